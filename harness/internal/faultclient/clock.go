package faultclient

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/highwater-io/highwater/harness/cluster"
)

const (
	// EndpointsKey is the broker property that serves the fault
	// endpoints; the drivers turn it on unless their Set turns it off.
	EndpointsKey = "highwater.fault.endpoints"
	// ClockPath is the clock seam's endpoint on the metrics listener.
	ClockPath = "/fault/clock"
	// RequestTimeout bounds one request to a fault endpoint.
	RequestTimeout = 3 * time.Second
	// answerBytesMax caps what is read of an answer (a metrics page
	// served for every path must not be read whole).
	answerBytesMax = 4 << 10
)

// httpClient is shared by every Clock: http.Client is safe for concurrent
// use and keeps no per-cluster state.
var httpClient = &http.Client{Timeout: RequestTimeout}

// Clock drives the clock seam of one cluster's nodes.
type Clock struct {
	// MetricsAddr resolves node id's metrics listener (host:port); its
	// error (an unknown node) is returned as is. Set it before the Clock
	// is shared; it is read without the lock.
	MetricsAddr func(id int32) (string, error)

	mu     sync.Mutex
	probed bool
	err    error // why the seam is unavailable; nil when it answered
}

// Probe asks node id's clock endpoint once (GET), given the broker
// properties that node runs with, and remembers the outcome for
// Available.
func (c *Clock) Probe(ctx context.Context, id int32, props map[string]string) {
	var err error
	if v := props[EndpointsKey]; v != "true" {
		err = fmt.Errorf("%w: clock skew needs the broker's fault endpoints (fix: leave %s=true, Set has %q)", cluster.ErrUnavailable, EndpointsKey, v)
	} else if _, err = c.Offset(ctx, id); err != nil {
		err = fmt.Errorf("%w: clock skew: the broker does not serve %s on its metrics listener (%w); it needs a build with the fault endpoints", cluster.ErrUnavailable, ClockPath, err)
	}
	c.SetUnavailable(err)
}

// SetUnavailable records why the cluster has no clock seam (an error
// wrapping cluster.ErrUnavailable), or with nil that it has one.
func (c *Clock) SetUnavailable(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.probed, c.err = true, err
}

// Available is nil when the seam answered Probe.
func (c *Clock) Available() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.probed {
		return fmt.Errorf("%w: clock skew: the cluster has not been probed yet", cluster.ErrUnavailable)
	}
	return c.err
}

// Skew sets node id's clock offset from real time (PUT), in whole
// milliseconds, and checks the broker answers that offset.
func (c *Clock) Skew(ctx context.Context, id int32, offset time.Duration) error {
	if err := c.Available(); err != nil {
		return err
	}
	addr, err := c.addr(id)
	if err != nil {
		return err
	}
	got, err := get(ctx, http.MethodPut, addr, "offset_ms="+strconv.FormatInt(offset.Milliseconds(), 10))
	if err != nil {
		return fmt.Errorf("node %d: skew clock: %w", id, err)
	}
	if got != offset.Truncate(time.Millisecond) {
		return fmt.Errorf("node %d: skew clock by %v: the broker answered %v", id, offset, got)
	}
	return nil
}

// Offset is node id's clock offset as its broker reports it (GET).
func (c *Clock) Offset(ctx context.Context, id int32) (time.Duration, error) {
	addr, err := c.addr(id)
	if err != nil {
		return 0, err
	}
	got, err := get(ctx, http.MethodGet, addr, "")
	if err != nil {
		return 0, fmt.Errorf("node %d: read clock: %w", id, err)
	}
	return got, nil
}

// Reset removes running node id's offset (DELETE).
func (c *Clock) Reset(ctx context.Context, id int32) error {
	addr, err := c.addr(id)
	if err != nil {
		return err
	}
	if _, err := get(ctx, http.MethodDelete, addr, ""); err != nil {
		return fmt.Errorf("node %d: reset clock: %w", id, err)
	}
	return nil
}

// addr is node id's metrics listener.
func (c *Clock) addr(id int32) (string, error) {
	if c.MetricsAddr == nil {
		return "", fmt.Errorf("%w: clock skew: no metrics listener known", cluster.ErrUnavailable)
	}
	return c.MetricsAddr(id)
}

// get sends one request to the clock endpoint at addr (a metrics
// listener) and returns the offset it answers; any other answer (such as
// a metrics page served for every path) is an error.
func get(ctx context.Context, method, addr, query string) (time.Duration, error) {
	url := "http://" + addr + ClockPath
	if query != "" {
		url += "?" + query
	}
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, answerBytesMax))
	if resp.StatusCode/100 != 2 {
		return 0, fmt.Errorf("%s %s: %s: %s", method, url, resp.Status, strings.TrimSpace(string(body)))
	}
	var answer struct {
		OffsetMs *int64 `json:"offset_ms"`
	}
	if err := json.Unmarshal(body, &answer); err != nil || answer.OffsetMs == nil {
		return 0, fmt.Errorf("%s %s: not a clock answer: %.80q", method, ClockPath, body)
	}
	return time.Duration(*answer.OffsetMs) * time.Millisecond, nil
}
