package faults

import (
	"encoding/json"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
)

// Clock is a clock whose readings can be skewed by an offset: the broker's
// clock seam under the clock-skew fault.
type Clock struct {
	base     func() time.Time
	offsetNs atomic.Int64
}

// NewClock returns a clock reading base plus an offset (initially 0).
func NewClock(base func() time.Time) *Clock {
	if base == nil {
		base = time.Now
	}
	return &Clock{base: base}
}

// Now is the base time plus the offset. Monotonic readings are stripped
// when skewed so that comparisons use the skewed wall clock.
func (c *Clock) Now() time.Time {
	off := c.offsetNs.Load()
	if off == 0 {
		return c.base()
	}
	return c.base().Round(0).Add(time.Duration(off))
}

// SetOffset skews the clock by d (negative: behind).
func (c *Clock) SetOffset(d time.Duration) { c.offsetNs.Store(int64(d)) }

// Offset is the current skew.
func (c *Clock) Offset() time.Duration { return time.Duration(c.offsetNs.Load()) }

// maxOffset bounds a skew to ±10 years, far beyond any useful fault but
// short of time.Duration overflow.
const maxOffset = 10 * 365 * 24 * time.Hour

// ClockPath is where Handler answers.
const ClockPath = "/fault/clock"

// clockBody is the JSON every /fault/clock answer carries.
type clockBody struct {
	OffsetMs int64 `json:"offset_ms"`
}

// Handler serves ClockPath: PUT ?offset_ms=N sets the skew, GET reads it,
// DELETE resets it.
func (c *Clock) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet:
		case http.MethodDelete:
			c.SetOffset(0)
		case http.MethodPut, http.MethodPost:
			ms, err := strconv.ParseInt(r.URL.Query().Get("offset_ms"), 10, 64)
			if err != nil {
				http.Error(w, "offset_ms: want an integer number of milliseconds", http.StatusBadRequest)
				return
			}
			d := time.Duration(ms) * time.Millisecond
			if ms > maxOffset.Milliseconds() || ms < -maxOffset.Milliseconds() {
				http.Error(w, "offset_ms: beyond ±10 years", http.StatusBadRequest)
				return
			}
			c.SetOffset(d)
		default:
			w.Header().Set("Allow", "GET, PUT, DELETE")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(clockBody{OffsetMs: c.Offset().Milliseconds()})
	})
}

// ReplicationPath is where ReplicationHandler answers.
const ReplicationPath = "/fault/replication"

// replicationBody is the JSON every /fault/replication answer carries.
type replicationBody struct {
	DelayMs int64 `json:"delay_ms"`
}

// ReplicationHandler serves ReplicationPath: PUT ?delay_ms=N sets the
// replica fetch delay (SetReplicaFetchDelay), GET reads it, DELETE
// resets it to 0.
func ReplicationHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet:
		case http.MethodDelete:
			SetReplicaFetchDelay(0)
		case http.MethodPut, http.MethodPost:
			ms, err := strconv.ParseInt(r.URL.Query().Get("delay_ms"), 10, 64)
			if err != nil || ms < 0 || ms > maxReplicaFetchDelay.Milliseconds() {
				http.Error(w, "delay_ms: want 0 to 60000 milliseconds", http.StatusBadRequest)
				return
			}
			SetReplicaFetchDelay(time.Duration(ms) * time.Millisecond)
		default:
			w.Header().Set("Allow", "GET, PUT, DELETE")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(replicationBody{DelayMs: time.Duration(replicaFetchDelayNs.Load()).Milliseconds()})
	})
}

// maxReplicaFetchDelay bounds the replica fetch delay: beyond a minute a
// follower is simply gone, which kill and pause already model.
const maxReplicaFetchDelay = time.Minute
