package checker

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/highwater-io/highwater/history"
)

// restartAfterQuiet builds the restarted-replica election of
// TestStaleHighWatermarkJudgement with quiet before the first kill: n3
// acknowledges 3 and 4 and then nothing is written for quiet, so the
// checkpoint n3 restarts from (hw 3) is at least quiet old when it is
// killed; n2 leads and shows hw 7, n3 rejoins and is elected when n2 is
// killed, and answers hw 3.
func restartAfterQuiet(b *hb, quiet time.Duration) {
	for i := range 5 {
		b.clock += 100 * time.Millisecond
		b.sendOK(1, "v"+strconv.Itoa(i), int64(i))
	}
	b.invokeSend(2, "v5") // in flight at the kill, acknowledged at the end
	b.invokeSend(3, "v6")
	b.clock += quiet
	b.faultStart(1, "kill", "kill -9 leader of t-0 n3")
	b.clock += time.Second
	b.faultStop(1, "kill")
	b.clock += 3 * time.Second
	b.fetch(20, 3, 7, seq(7)[3:]...)
	b.clock += time.Second
	b.faultStart(2, "kill", "kill -9 leader of t-0 n2")
	b.clock += 3 * time.Second
	b.fetch(20, 5, 3)
	b.listOffsets(20, 3)
	b.faultStop(2, "kill")
	b.clock += time.Second
	b.listOffsets(20, 7)
	b.ackSend(2, []string{"v5"}, 5)
	b.ackSend(3, []string{"v6"}, 6)
	b.drain(seq(7)...)
}

// TestStaleHighWatermarkCheckpointAllowance: how old a restarted
// replica's checkpointed high watermark may be follows the cluster's
// checkpoint interval. A lag 4 s older than the kill is legal on Kafka
// (replica.high.watermark.checkpoint.interval.ms, 5 s) and a violation on
// the reference broker (100 ms); the allowance comes from the option, else
// the history's header (what the harness recorded for the run's cluster),
// else the reference broker's; a lag older than Kafka's checkpoint and a
// fetch round stays a violation on Kafka too.
func TestStaleHighWatermarkCheckpointAllowance(t *testing.T) {
	cases := []struct {
		name       string
		quiet      time.Duration
		header     string        // ParamHWCheckpoint; empty: absent
		checkpoint time.Duration // Linearizability.StaleHWCheckpoint
		want       Validity
	}{
		{name: "4 s old, default (reference broker)", quiet: 4 * time.Second, want: Invalid},
		{name: "4 s old, Kafka's allowance by option", quiet: 4 * time.Second, checkpoint: KafkaStaleHWCheckpoint, want: Valid},
		{name: "4 s old, Kafka's allowance from the header", quiet: 4 * time.Second, header: "5s", want: Valid},
		{name: "4 s old, the option overrides the header", quiet: 4 * time.Second, header: "5s", checkpoint: DefaultStaleHWCheckpoint, want: Invalid},
		{name: "4 s old, unreadable header value", quiet: 4 * time.Second, header: "soon", want: Invalid},
		{name: "4 s old, negative header value", quiet: 4 * time.Second, header: "-5s", want: Invalid},
		{name: "10 s old, Kafka's allowance", quiet: 10 * time.Second, checkpoint: KafkaStaleHWCheckpoint, want: Invalid},
		{name: "just before the kill, default", quiet: 0, want: Valid},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			hdr := history.Header{Scenario: "test", Seed: 1}
			if c.header != "" {
				hdr.Params = map[string]string{history.ParamHWCheckpoint: c.header}
			}
			b := newHBHeader(t, hdr)
			restartAfterQuiet(b, c.quiet)
			s := Run(t.Context(), b.history(), &Queue{},
				&Linearizability{Timeout: 20 * time.Second, slotTarget: 1, StaleHWCheckpoint: c.checkpoint})
			if s.Valid != c.want {
				t.Fatalf("verdict %s, want %s:\n%s", s.Valid, c.want, s.Text())
			}
			if c.want == Valid && findingOf(s, StaleHighWatermark) == nil {
				t.Fatalf("excused, but no %s finding:\n%s", StaleHighWatermark, s.Text())
			}
			if c.want == Invalid && !strings.Contains(s.Text(), "fetch(5) → [] hw=3") {
				t.Errorf("summary does not name the lagging fetch:\n%s", s.Text())
			}
		})
	}
}

// Options.StaleHWCheckpoint reaches the linearizability checker (highwater
// check --hw-checkpoint); zero leaves the header's value in force.
func TestOptionsStaleHWCheckpoint(t *testing.T) {
	for _, d := range []time.Duration{0, KafkaStaleHWCheckpoint} {
		for _, c := range (Options{StaleHWCheckpoint: d}).apply(Default("")) {
			if l, ok := c.(*Linearizability); ok && l.StaleHWCheckpoint != d {
				t.Errorf("option %v: checker has %v", d, l.StaleHWCheckpoint)
			}
		}
	}
}
