package history

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// Header.Start is the wall clock at time 0. On the writer's own clock time
// 0 is NewWriter, so a Start the caller took earlier (the harness used to
// pass its run's start, taken before the cluster started) is replaced;
// with WithClock the caller owns time 0 and its Start is kept; a file
// written before (Start earlier than time 0) reads back unchanged.
func TestHeaderStartIsTimeZero(t *testing.T) {
	early := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

	t.Run("own clock", func(t *testing.T) {
		var buf bytes.Buffer
		before := time.Now()
		w, err := NewWriter(&buf, Header{Scenario: "s", Start: early})
		after := time.Now()
		if err != nil {
			t.Fatal(err)
		}
		mustEvent(t)(w.Invoke(0, FSend, &Send{Records: []SendRecord{{Topic: "t", Value: "v"}}}))
		h, err := Read(&buf)
		if err != nil {
			t.Fatal(err)
		}
		// Wall-clock order of three readings in one goroutine, not a
		// duration: no bound on how fast the machine is.
		if s := h.Header.Start; s.Equal(early) || s.Before(before.Round(0)) || s.After(after.Round(0)) {
			t.Fatalf("Start %v: want the moment NewWriter ran, between %v and %v, not the caller's %v", s, before, after, early)
		}
	})

	t.Run("caller's clock", func(t *testing.T) {
		var buf bytes.Buffer
		if _, err := NewWriter(&buf, Header{Scenario: "s", Start: early}, WithClock(fakeClock())); err != nil {
			t.Fatal(err)
		}
		h, err := Read(&buf)
		if err != nil {
			t.Fatal(err)
		}
		if !h.Header.Start.Equal(early) {
			t.Fatalf("Start %v, want the caller's %v", h.Header.Start, early)
		}
	})

	t.Run("saved before the fix", func(t *testing.T) {
		file := `{"format":"highwater-history","version":1,"scenario":"old","seed":1,"start":"2026-11-27T10:00:00.5Z","params":{"cluster":"reference, 3 node(s)"}}
{"index":0,"time":1500000000,"process":0,"type":"invoke","f":"send","value":{"records":[{"topic":"t","partition":0,"value":"v"}]}}
{"index":1,"time":1600000000,"process":0,"type":"ok","f":"send","value":{"records":[{"topic":"t","partition":0,"value":"v","offset":0}]}}
`
		h, err := Read(strings.NewReader(file))
		if err != nil {
			t.Fatal(err)
		}
		if want := time.Date(2026, 11, 27, 10, 0, 0, 5e8, time.UTC); !h.Header.Start.Equal(want) || len(h.Ops) != 1 {
			t.Fatalf("Start %v, %d ops; want %v and 1", h.Header.Start, len(h.Ops), want)
		}
	})
}
