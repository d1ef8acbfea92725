package faults

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestClockSkew(t *testing.T) {
	base := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	c := NewClock(func() time.Time { return base })
	if !c.Now().Equal(base) {
		t.Fatalf("unskewed clock reads %v", c.Now())
	}
	for _, d := range []time.Duration{90 * time.Second, -time.Hour, 0} {
		c.SetOffset(d)
		if got := c.Now().Sub(base); got != d {
			t.Fatalf("offset %v: clock is %v off", d, got)
		}
	}
	// A real clock: the skewed reading compares by wall time, not by the
	// monotonic reading a plain Add would keep.
	real := NewClock(nil)
	real.SetOffset(-time.Hour)
	if time.Since(real.Now()) < 59*time.Minute {
		t.Fatalf("skewed real clock is only %v behind", time.Since(real.Now()))
	}
}

func TestClockHandler(t *testing.T) {
	c := NewClock(nil)
	h := c.Handler()
	do := func(method, target string) (int, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(method, target, nil))
		return rec.Code, strings.TrimSpace(rec.Body.String())
	}
	for _, tc := range []struct {
		method, target string
		code           int
		body           string
		offset         time.Duration
	}{
		{http.MethodGet, ClockPath, 200, `{"offset_ms":0}`, 0},
		{http.MethodPut, ClockPath + "?offset_ms=2500", 200, `{"offset_ms":2500}`, 2500 * time.Millisecond},
		{http.MethodGet, ClockPath, 200, `{"offset_ms":2500}`, 2500 * time.Millisecond},
		{http.MethodPut, ClockPath + "?offset_ms=-30000", 200, `{"offset_ms":-30000}`, -30 * time.Second},
		{http.MethodPut, ClockPath + "?offset_ms=soon", 400, "", -30 * time.Second},
		{http.MethodPut, ClockPath, 400, "", -30 * time.Second},
		{http.MethodPut, ClockPath + "?offset_ms=9223372036854775807", 400, "", -30 * time.Second},
		{http.MethodPatch, ClockPath, 405, "", -30 * time.Second},
		{http.MethodDelete, ClockPath, 200, `{"offset_ms":0}`, 0},
	} {
		code, body := do(tc.method, tc.target)
		if code != tc.code || (tc.body != "" && body != tc.body) || c.Offset() != tc.offset {
			t.Fatalf("%s %s: %d %q, offset %v; want %d %q, offset %v", tc.method, tc.target, code, body, c.Offset(), tc.code, tc.body, tc.offset)
		}
	}
}

func TestParseBugs(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []Bug
		err  bool
	}{
		{"", nil, false},
		{" , ", nil, false},
		{"stale-read", []Bug{StaleRead}, false},
		{"hw-beyond-isr, lose-fsync,hw-beyond-isr", []Bug{HWBeyondISR, LoseFsync}, false},
		{"stale-read,made-up", nil, true},
	} {
		got, err := ParseBugs(tc.in)
		if (err != nil) != tc.err || (err != nil && !errors.Is(err, ErrUnknownBug)) || !slices.Equal(got, tc.want) {
			t.Errorf("ParseBugs(%q) = %v, %v", tc.in, got, err)
		}
	}
}

func TestPlanted(t *testing.T) {
	t.Cleanup(Reset)
	if Planted(StaleRead) {
		t.Fatal("planted by default")
	}
	Plant(StaleRead, LoseFsync)
	Plant(StaleRead)
	if !Planted(StaleRead) || !Planted(LoseFsync) || Planted(HWBeyondISR) {
		t.Fatal("Plant did not plant exactly what it was given")
	}
	Reset()
	if Planted(StaleRead) {
		t.Fatal("Reset kept a bug")
	}
}

func TestReplicationHandler(t *testing.T) {
	t.Cleanup(func() { SetReplicaFetchDelay(0) })
	h := ReplicationHandler()
	for _, tc := range []struct {
		method, target string
		code           int
		delay          time.Duration
	}{
		{http.MethodPut, ReplicationPath + "?delay_ms=250", 200, 250 * time.Millisecond},
		{http.MethodGet, ReplicationPath, 200, 250 * time.Millisecond},
		{http.MethodPut, ReplicationPath + "?delay_ms=-1", 400, 250 * time.Millisecond},
		{http.MethodPut, ReplicationPath + "?delay_ms=600000", 400, 250 * time.Millisecond},
		{http.MethodPost, ReplicationPath + "?delay_ms=x", 400, 250 * time.Millisecond},
		{http.MethodDelete, ReplicationPath, 200, 0},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.target, nil))
		if rec.Code != tc.code || ReplicaFetchDelay() != tc.delay {
			t.Fatalf("%s %s: %d, delay %v; want %d, %v", tc.method, tc.target, rec.Code, ReplicaFetchDelay(), tc.code, tc.delay)
		}
	}
}

func TestHoldReplicaFetches(t *testing.T) {
	t.Cleanup(func() { SetReplicaFetchDelay(0); HoldReplicaFetches(time.Time{}, nil) })
	start := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	now := start
	clock := func() time.Time { return now }
	SetReplicaFetchDelay(100 * time.Millisecond)
	HoldReplicaFetches(start.Add(5*time.Second), clock)
	for _, tc := range []struct {
		at, want time.Duration
	}{
		{0, 5 * time.Second},
		{4 * time.Second, time.Second},
		{4950 * time.Millisecond, 100 * time.Millisecond}, // the link delay is longer than the rest
		{5 * time.Second, 100 * time.Millisecond},
		{time.Minute, 100 * time.Millisecond},
	} {
		now = start.Add(tc.at)
		if got := ReplicaFetchDelay(); got != tc.want {
			t.Fatalf("%v after the start: fetch delay %v, want %v", tc.at, got, tc.want)
		}
	}
	now = start
	HoldReplicaFetches(time.Time{}, clock)
	if got := ReplicaFetchDelay(); got != 100*time.Millisecond {
		t.Fatalf("hold off: fetch delay %v, want the link's 100ms", got)
	}
}
