package bench

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// ErrBadWorkload wraps every Workload.Validate failure.
var ErrBadWorkload = errors.New("bench: bad workload")

// Workload is one producer/consumer load. The zero value is not valid; start
// from DefaultWorkload.
type Workload struct {
	// Topic is created (or reused on an address target) for the run; empty
	// means a fresh generated name per run.
	Topic      string
	Partitions int32
	// ReplicationFactor 0 means min(3, the target's node count); a larger
	// one is capped at the node count of a target that knows it.
	ReplicationFactor int16
	// RecordBytes is each record's value size (no key).
	RecordBytes int
	// Acks is "0", "1" or "all" (also "-1"). With "all" the producer is
	// idempotent, as franz-go's default; otherwise idempotence is off.
	Acks string
	// Compression is none, gzip, snappy, lz4 or zstd.
	Compression      string
	BatchMaxBytes    int32
	Linger           time.Duration
	MaxInflight      int // produce requests in flight per broker (acks 0/1 only)
	MaxBufferedBytes int // client-side buffer; Produce blocks when it is full
	Producers        int
	// Records is the total record count over all producers; ignored when
	// Duration is set.
	Records int64
	// Duration bounds the produce phase instead of Records.
	Duration time.Duration
	// RatePerSec is the open-loop target rate in records/s over all
	// producers; 0 means closed loop (as fast as the buffer allows).
	RatePerSec float64
	// Warmup is excluded from latency and throughput figures.
	Warmup time.Duration
	// Consume reads everything back after producing.
	Consume bool
	// Consumers is how many clients read it back: 1 is a single reader
	// without a consumer group (unless Group is set); more join a consumer
	// group and split the partitions, and the figures are their total.
	Consumers int
	// Group names the consumer group; empty means a fresh name per run
	// when Consumers > 1, and no group for a single consumer.
	Group string
	// EndToEnd runs the consumer alongside the producer instead of after
	// it and measures produce-to-consume latency (from the intended send
	// time in the open loop). Consumer throughput is then bounded by the
	// producer's. Needs Consume.
	EndToEnd bool
	// IdleTimeout fails a phase that makes no progress for this long.
	IdleTimeout time.Duration
	// Seed fixes the record payloads.
	Seed uint64
}

// DefaultWorkload is the side-by-side comparison the project publishes:
// 1 KiB records, acks=1, 6 partitions, 1 MiB batches, 5 ms linger, one
// producer, closed loop, 3 M records (about 2.9 GiB: 10–20 s of producing
// and about as long consuming a run on a loaded two-core machine), 2 s
// warm-up, then a full read back.
func DefaultWorkload() Workload {
	return Workload{
		Partitions:        6,
		ReplicationFactor: 0, // min(3, the target's nodes)
		RecordBytes:       1024,
		Acks:              "1",
		Compression:       "none",
		BatchMaxBytes:     1 << 20,
		Linger:            5 * time.Millisecond,
		MaxInflight:       5,
		MaxBufferedBytes:  32 << 20, // Java's buffer.memory
		Producers:         1,
		Records:           3_000_000,
		Warmup:            2 * time.Second,
		Consume:           true,
		Consumers:         1,
		IdleTimeout:       30 * time.Second,
		Seed:              1,
	}
}

// Validate reports every problem at once.
func (w Workload) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if w.Partitions < 1 {
		bad("partitions %d < 1", w.Partitions)
	}
	if w.ReplicationFactor < 0 {
		bad("replication factor %d < 0", w.ReplicationFactor)
	}
	if w.RecordBytes < 0 {
		bad("record size %d < 0", w.RecordBytes)
	}
	if _, err := w.acks(); err != nil {
		errs = append(errs, err)
	}
	if _, err := w.codec(); err != nil {
		errs = append(errs, err)
	}
	if w.BatchMaxBytes < 1 {
		bad("batch max bytes %d < 1", w.BatchMaxBytes)
	}
	if w.Linger < 0 {
		bad("linger %v < 0", w.Linger)
	}
	if w.MaxInflight < 1 {
		bad("max in flight %d < 1", w.MaxInflight)
	}
	if w.MaxBufferedBytes < w.RecordBytes || w.MaxBufferedBytes < 1 {
		bad("max buffered bytes %d below one record (%d)", w.MaxBufferedBytes, w.RecordBytes)
	}
	if w.Producers < 1 {
		bad("producers %d < 1", w.Producers)
	}
	if w.Duration < 0 {
		bad("duration %v < 0", w.Duration)
	}
	if w.Duration == 0 && w.Records < 1 {
		bad("want a record count or a duration")
	}
	if w.RatePerSec < 0 {
		bad("rate %v < 0", w.RatePerSec)
	}
	if w.Warmup < 0 {
		bad("warm-up %v < 0", w.Warmup)
	}
	if w.Duration > 0 && w.Warmup >= w.Duration {
		bad("warm-up %v leaves nothing of duration %v", w.Warmup, w.Duration)
	}
	if w.Consume && w.Consumers < 1 {
		bad("consumers %d < 1", w.Consumers)
	}
	if w.EndToEnd && !w.Consume {
		bad("end-to-end latency needs the consumer")
	}
	if w.IdleTimeout <= 0 {
		bad("idle timeout %v <= 0", w.IdleTimeout)
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrBadWorkload, errors.Join(errs...))
	}
	return nil
}

func (w Workload) acks() (kgo.Acks, error) {
	switch strings.ToLower(w.Acks) {
	case "0":
		return kgo.NoAck(), nil
	case "1":
		return kgo.LeaderAck(), nil
	case "all", "-1":
		return kgo.AllISRAcks(), nil
	}
	return kgo.Acks{}, fmt.Errorf("acks %q: want 0, 1 or all", w.Acks)
}

func (w Workload) codec() (kgo.CompressionCodec, error) {
	switch strings.ToLower(w.Compression) {
	case "", "none":
		return kgo.NoCompression(), nil
	case "gzip":
		return kgo.GzipCompression(), nil
	case "snappy":
		return kgo.SnappyCompression(), nil
	case "lz4":
		return kgo.Lz4Compression(), nil
	case "zstd":
		return kgo.ZstdCompression(), nil
	}
	return kgo.CompressionCodec{}, fmt.Errorf("compression %q: want none, gzip, snappy, lz4 or zstd", w.Compression)
}

// producerOpts are the franz-go options for one producer client. Validate
// must have passed.
func (w Workload) producerOpts(bootstrap string) []kgo.Opt {
	acks, _ := w.acks()
	codec, _ := w.codec()
	opts := []kgo.Opt{
		kgo.SeedBrokers(seedList(bootstrap)...),
		kgo.RequiredAcks(acks),
		kgo.ProducerBatchCompression(codec),
		kgo.ProducerBatchMaxBytes(w.BatchMaxBytes),
		kgo.ProducerLinger(w.Linger),
		kgo.MaxBufferedBytes(w.MaxBufferedBytes),
		// The record count bounds the buffer through MaxBufferedBytes.
		kgo.MaxBufferedRecords(1 << 30),
		kgo.ClientID("highwater-bench"),
	}
	if acks != kgo.AllISRAcks() {
		// Idempotence needs acks=all; Java's producer turns it off the
		// same way and keeps five requests in flight.
		opts = append(opts, kgo.DisableIdempotentWrite(), kgo.MaxProduceRequestsInflightPerBroker(w.MaxInflight))
	}
	// Java's default max.request.size is 1 MiB; a 1 MiB batch plus the
	// request framing must still fit the broker's message.max.bytes (about
	// 1 MiB), which franz-go checks per batch, so nothing else to set.
	return opts
}

// consumerGroup is the group the run's consumers share, empty for the
// single group-less reader.
func (w Workload) consumerGroup(topic string) string {
	switch {
	case w.Group != "":
		return w.Group
	case w.Consumers > 1:
		return "highwater-bench-" + topic
	}
	return ""
}
