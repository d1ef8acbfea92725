package bench

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestLineProgress(t *testing.T) {
	var out bytes.Buffer
	run := LineProgress{Out: &out, Interval: 5 * time.Second}.Begin("reference round 1")
	prod, cons := run.Phase("produce"), run.Phase("consume")
	for i := 1; i <= 12; i++ {
		prod.Update(PhaseState{Records: int64(i) * 1000, Elapsed: time.Duration(i) * time.Second})
	}
	cons.Update(PhaseState{Records: 0, Elapsed: 6 * time.Second})
	prod.Done()
	run.End()
	want := "5000 records sent, 1000.0 records/sec in the last 5.0 s.\n" +
		"5000 records sent, 1000.0 records/sec in the last 5.0 s.\n" +
		"0 records consumed, 0.0 records/sec in the last 6.0 s.\n"
	if out.String() != want {
		t.Errorf("lines:\n%s\nwant:\n%s", out.String(), want)
	}
}

// TestBarProgressEnds: a bar run ends (and End returns) whether or not its
// phases were done, and the figures text reads right. Off a terminal mpb
// draws nothing, so only the text is checked.
func TestBarProgressEnds(t *testing.T) {
	var out bytes.Buffer
	run := BarProgress{Out: &out, Width: 80}.Begin("kfake round 2")
	p := run.Phase("produce")
	p.Update(PhaseState{Records: 500, Bytes: 500 << 20, Total: 1000, Elapsed: 2 * time.Second})
	p.Done()
	c := run.Phase("consume")
	c.Update(PhaseState{Records: 10, Elapsed: time.Second, Duration: 4 * time.Second})
	done := make(chan struct{})
	go func() { run.End(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("End did not return with a phase left running")
	}
	st := PhaseState{Records: 500, Bytes: 500 << 20, Total: 1000, Elapsed: 2 * time.Second, Duration: 4 * time.Second}
	if got := st.text(); !strings.Contains(got, "500/1000 records") || !strings.Contains(got, "250.0 MB/s") || !strings.Contains(got, "2s/4s") {
		t.Errorf("text = %q", got)
	}
}
