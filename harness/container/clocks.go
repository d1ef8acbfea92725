package container

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

// The reference broker's clock seam: PUT/GET/DELETE /fault/clock on the
// metrics listener when highwater.fault.endpoints is true (the driver's
// default), answering {"offset_ms":N}.
const (
	faultEndpointsKey = "highwater.fault.endpoints"
	clockPath         = "/fault/clock"
	clockHTTPTimeout  = 3 * time.Second
)

var _ cluster.Clocks = (*Cluster)(nil)

// clockState remembers whether the seam answered when the cluster came up.
type clockState struct {
	mu   sync.Mutex
	err  error
	http http.Client
}

// probe asks node 1's clock endpoint once after New, so a broker without
// it is reported unavailable up front rather than mid-run.
func (s *clockState) probe(ctx context.Context, c *Cluster) {
	s.http.Timeout = clockHTTPTimeout
	var err error
	if v := c.properties(c.nodes[0])[faultEndpointsKey]; v != "true" {
		err = fmt.Errorf("%w: clock skew needs the broker's fault endpoints (fix: leave %s=true, Set has %q)", cluster.ErrUnavailable, faultEndpointsKey, v)
	} else if _, err = s.call(ctx, http.MethodGet, c.nodes[0], ""); err != nil {
		err = fmt.Errorf("%w: clock skew: the broker does not serve %s on its metrics listener (%w)", cluster.ErrUnavailable, clockPath, err)
	}
	s.mu.Lock()
	s.err = err
	s.mu.Unlock()
}

// call sends one request to n's clock endpoint and returns the offset it
// answers; any other answer is an error.
func (s *clockState) call(ctx context.Context, method string, n *node, query string) (time.Duration, error) {
	url := "http://" + n.addr(metricsIdx) + clockPath
	if query != "" {
		url += "?" + query
	}
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode/100 != 2 {
		return 0, fmt.Errorf("%s %s: %s: %s", method, url, resp.Status, strings.TrimSpace(string(body)))
	}
	var answer struct {
		OffsetMs *int64 `json:"offset_ms"`
	}
	if err := json.Unmarshal(body, &answer); err != nil || answer.OffsetMs == nil {
		return 0, fmt.Errorf("%s %s: not a clock answer: %.80q", method, clockPath, body)
	}
	return time.Duration(*answer.OffsetMs) * time.Millisecond, nil
}

// ClocksAvailable is nil when the brokers serve the clock fault endpoint.
func (c *Cluster) ClocksAvailable() error {
	c.clocks.mu.Lock()
	defer c.clocks.mu.Unlock()
	return c.clocks.err
}

// SkewClock sets node id's clock offset from real time.
func (c *Cluster) SkewClock(ctx context.Context, id int32, offset time.Duration) error {
	if err := c.ClocksAvailable(); err != nil {
		return err
	}
	n, err := c.node(id)
	if err != nil {
		return err
	}
	got, err := c.clocks.call(ctx, http.MethodPut, n, "offset_ms="+strconv.FormatInt(offset.Milliseconds(), 10))
	if err != nil {
		return fmt.Errorf("node %d: skew clock: %w", id, err)
	}
	if got != offset.Truncate(time.Millisecond) {
		return fmt.Errorf("node %d: skew clock by %v: the broker answered %v", id, offset, got)
	}
	return nil
}

// ResetClock removes node id's offset; a node that is not running has
// none (a restarted broker starts at zero).
func (c *Cluster) ResetClock(ctx context.Context, id int32) error {
	n, err := c.node(id)
	if err != nil {
		return err
	}
	if n.ctr == nil {
		return nil
	}
	st, _, err := c.state(ctx, n)
	if err != nil {
		return fmt.Errorf("node %d: %w", id, err)
	}
	if !st.running {
		return nil
	}
	if _, err := c.clocks.call(ctx, http.MethodDelete, n, ""); err != nil {
		return fmt.Errorf("node %d: reset clock: %w", id, err)
	}
	return nil
}
