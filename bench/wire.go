package bench

import (
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// WireStats counts the produce requests a producer wrote and the fetch
// responses a consumer read, to explain throughput differences between
// brokers: a broker that answers fetches with a few KiB at a time makes the
// client do far more round trips for the same data.
type WireStats struct {
	Requests     int64   `json:"requests"`
	Bytes        int64   `json:"bytes"`
	AvgBytes     float64 `json:"avgBytes"`
	ReadWriteErr int64   `json:"errors"`
}

// wireCounter is a franz-go hook counting one request key, written
// (produce) or read (fetch responses). Hooks run on the client's
// connection goroutines, hence the atomics.
type wireCounter struct {
	key   int16
	read  bool
	reqs  atomic.Int64
	bytes atomic.Int64
	errs  atomic.Int64
}

var (
	_ kgo.HookBrokerWrite = (*wireCounter)(nil)
	_ kgo.HookBrokerRead  = (*wireCounter)(nil)
)

func newProduceCounter() *wireCounter { return &wireCounter{key: int16(kmsg.Produce)} }
func newFetchCounter() *wireCounter   { return &wireCounter{key: int16(kmsg.Fetch), read: true} }

func (c *wireCounter) count(key int16, n int, err error) {
	if key != c.key {
		return
	}
	if err != nil {
		c.errs.Add(1)
		return
	}
	c.reqs.Add(1)
	c.bytes.Add(int64(n))
}

// OnBrokerWrite implements kgo.HookBrokerWrite.
func (c *wireCounter) OnBrokerWrite(_ kgo.BrokerMetadata, key int16, n int, _, _ time.Duration, err error) {
	if !c.read {
		c.count(key, n, err)
	}
}

// OnBrokerRead implements kgo.HookBrokerRead.
func (c *wireCounter) OnBrokerRead(_ kgo.BrokerMetadata, key int16, n int, _, _ time.Duration, err error) {
	if c.read {
		c.count(key, n, err)
	}
}

func (c *wireCounter) stats() WireStats {
	s := WireStats{Requests: c.reqs.Load(), Bytes: c.bytes.Load(), ReadWriteErr: c.errs.Load()}
	if s.Requests > 0 {
		s.AvgBytes = float64(s.Bytes) / float64(s.Requests)
	}
	return s
}
