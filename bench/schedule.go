package bench

import (
	"time"
)

// Schedule is an open-loop send schedule: record i (from 0) is due at
// Start + i×Interval, whatever happened to the records before it. Latency
// measured from these intended times accounts for coordinated omission: a
// broker that stalls for a second is charged a second on every record that
// should have been sent during the stall.
type Schedule struct {
	Start    time.Time
	Interval time.Duration
}

// NewSchedule spreads ratePerSec records a second evenly from start. A
// non-positive or absurd rate yields the zero Schedule, whose Open is false.
func NewSchedule(start time.Time, ratePerSec float64) Schedule {
	if !(ratePerSec > 0) || ratePerSec > 1e9 {
		return Schedule{}
	}
	interval := time.Duration(float64(time.Second) / ratePerSec)
	if interval <= 0 {
		interval = 1
	}
	return Schedule{Start: start, Interval: interval}
}

// Open reports whether this is an open-loop schedule (a rate was set).
func (s Schedule) Open() bool { return s.Interval > 0 }

// IntendedAt is when record i is due.
func (s Schedule) IntendedAt(i int64) time.Time {
	return s.Start.Add(time.Duration(i) * s.Interval)
}

// DueBy is how many records (indices 0..n-1) are due at or before now.
func (s Schedule) DueBy(now time.Time) int64 {
	if !s.Open() || now.Before(s.Start) {
		return 0
	}
	return int64(now.Sub(s.Start)/s.Interval) + 1
}
