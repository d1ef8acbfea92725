package history_test

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"github.com/highwater-io/highwater/history"
)

// A recording client brackets every operation with Invoke and one of
// Ok / Fail / Info; the nemesis records fault windows; the harness marks the
// final drain.
func Example() {
	var buf bytes.Buffer // a real run uses history.Create(runDir+"/history.jsonl", hdr)
	var now time.Duration
	w, _ := history.NewWriter(&buf, history.Header{Scenario: "queue", Seed: 7},
		history.WithClock(func() time.Duration { now += time.Millisecond; return now }))

	rec := history.SendRecord{Topic: "orders", Partition: 0, Value: "p1-1"}
	w.Invoke(1, history.FSend, &history.Send{Records: []history.SendRecord{rec}})
	w.FaultStart(history.Fault{Window: 1, Fault: "kill", Description: "kill -9 node 2"})
	rec.Offset = history.Int64(0)
	w.Ok(1, &history.Send{Records: []history.SendRecord{rec}})
	w.Invoke(1, history.FSend, &history.Send{Records: []history.SendRecord{{Topic: "orders", Value: "p1-2"}}})
	w.Info(1, nil, errors.New("request timed out")) // may or may not have happened
	w.FaultStop(history.Fault{Window: 1, Fault: "kill"})
	w.Phase(history.PhaseDrain, "")
	w.Invoke(9, history.FPoll, nil)
	w.Ok(9, &history.Poll{Partitions: []history.PartitionRecords{{Topic: "orders", Records: []history.Record{{Offset: 0, Value: "p1-1"}}}}})
	w.Phase(history.PhaseDone, "")

	h, err := history.Read(&buf)
	if err != nil {
		panic(err)
	}
	for _, op := range h.Ops {
		fmt.Println(op.Process, op.F, op.Type(), op.Invoke.Index, op.Complete.Index)
	}
	fmt.Println(h.Faults[0].Fault, h.Faults[0].StartTime, h.Faults[0].StopTime)
	// Output:
	// 1 send ok 0 2
	// 1 send info 3 4
	// 9 poll ok 7 8
	// kill 2000000 6000000
}
