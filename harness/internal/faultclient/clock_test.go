package faultclient

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/highwater-io/highwater/harness/cluster"
)

// seam is a fake clock endpoint keeping one offset; answerMs, when set,
// overrides what PUT answers (a broker that rounds differently).
type seam struct {
	mu       sync.Mutex
	offsetMs int64
	answerMs *int64
}

func (s *seam) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != ClockPath {
		fmt.Fprintln(w, "# a metrics page")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch r.Method {
	case http.MethodPut:
		ms, err := strconv.ParseInt(r.URL.Query().Get("offset_ms"), 10, 64)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.offsetMs = ms
		if s.answerMs != nil {
			ms = *s.answerMs
		}
		fmt.Fprintf(w, `{"offset_ms":%d}`, ms)
		return
	case http.MethodDelete:
		s.offsetMs = 0
	}
	fmt.Fprintf(w, `{"offset_ms":%d}`, s.offsetMs)
}

// clockAt is a Clock whose node 1 is served by h.
func clockAt(t *testing.T, h http.Handler) *Clock {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	addr := strings.TrimPrefix(srv.URL, "http://")
	return &Clock{MetricsAddr: func(id int32) (string, error) {
		if id != 1 {
			return "", fmt.Errorf("%w: %d", cluster.ErrUnknownNode, id)
		}
		return addr, nil
	}}
}

func TestClock(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	on := map[string]string{EndpointsKey: "true"}
	s := &seam{}
	c := clockAt(t, s)
	if err := c.Available(); !errors.Is(err, cluster.ErrUnavailable) {
		t.Errorf("Available before Probe = %v, want ErrUnavailable", err)
	}
	c.Probe(ctx, 1, on)
	if err := c.Available(); err != nil {
		t.Fatalf("Available = %v", err)
	}
	if err := c.Skew(ctx, 1, 1500*time.Millisecond+300*time.Microsecond); err != nil {
		t.Fatalf("Skew = %v", err)
	}
	if got, err := c.Offset(ctx, 1); err != nil || got != 1500*time.Millisecond {
		t.Errorf("Offset = %v, %v; want 1.5s (whole milliseconds)", got, err)
	}
	if err := c.Reset(ctx, 1); err != nil || s.offsetMs != 0 {
		t.Errorf("Reset = %v, offset %d ms", err, s.offsetMs)
	}
	wrong := int64(7)
	s.answerMs = &wrong
	if err := c.Skew(ctx, 1, time.Second); err == nil || !strings.Contains(err.Error(), "node 1: skew clock by 1s: the broker answered 7ms") {
		t.Errorf("Skew with a wrong answer = %v", err)
	}
	if err := c.Skew(ctx, 2, time.Second); !errors.Is(err, cluster.ErrUnknownNode) {
		t.Errorf("Skew(unknown node) = %v, want ErrUnknownNode", err)
	}
}

// TestClockUnavailable: the property turned off, or a broker serving a
// metrics page for every path, or SetUnavailable, each make Available
// and Skew say ErrUnavailable with the reason.
func TestClockUnavailable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	metricsOnly := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "# a metrics page") })
	for _, tc := range []struct {
		name  string
		setup func(c *Clock)
		why   string
	}{
		{"property off", func(c *Clock) { c.Probe(ctx, 1, map[string]string{EndpointsKey: "false"}) }, EndpointsKey + "=true"},
		{"metrics page", func(c *Clock) { c.Probe(ctx, 1, map[string]string{EndpointsKey: "true"}) }, "not a clock answer"},
		{"no seam", func(c *Clock) { c.SetUnavailable(fmt.Errorf("%w: no seam here", cluster.ErrUnavailable)) }, "no seam here"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := clockAt(t, metricsOnly)
			tc.setup(c)
			for what, err := range map[string]error{"Available": c.Available(), "Skew": c.Skew(ctx, 1, time.Second)} {
				if !errors.Is(err, cluster.ErrUnavailable) || !strings.Contains(err.Error(), tc.why) {
					t.Errorf("%s = %v, want ErrUnavailable saying %q", what, err, tc.why)
				}
			}
		})
	}
}
