package broker

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/highwater-io/highwater/broker/internal/partlog"
	"github.com/highwater-io/highwater/broker/internal/topics"
)

// dedupeBytesPerKey is what Kafka's cleaner counts per key of its offset
// map (a 16-byte hash and an 8-byte offset); a thread's share of
// log.cleaner.dedupe.buffer.size divided by it, times dedupeLoadFactor
// (Kafka's default log.cleaner.io.buffer.load.factor), bounds the keys of
// one pass.
const (
	dedupeBytesPerKey = 24
	dedupeLoadFactor  = 0.9
)

// logCleaner is the broker's log cleaner (Kafka's LogCleaner): a thin
// driver running log.cleaner.threads workers (none for 0, as in Kafka).
// Each, every log.cleaner.backoff.ms while nothing is due, picks the
// compacted log with the largest cleanable dirty ratio among those due
// (partlog.Cleanability.Due) that no other worker is cleaning, and runs one
// partlog.Log.Clean pass on it. The in-progress set (Kafka's
// LogCleanerManager.inProgress), guarded by mu with the pick itself, keeps
// two workers off one log. Each replica cleans its own log up to its own
// last stable offset, as in Kafka.
type logCleaner struct {
	catalog       *topics.Catalog
	stableOffset  func(p *topics.Partition) (int64, bool) // the last stable offset; false: skip
	now           func() time.Time
	backoff       time.Duration
	maxMapEntries int
	threads       int
	log           *slog.Logger
	// clean runs one pass (Log.Clean); tests wrap it.
	clean func(p *topics.Partition, upTo int64, now time.Time) (partlog.CleanStats, error)

	mu sync.Mutex
	// inProgress are the logs a worker is cleaning now.
	inProgress map[*partlog.Log]bool
	// uncleanable are logs a pass failed on with an error other than an
	// abort; Kafka marks them uncleanable until restart, so a damaged log
	// does not make the cleaner spin.
	uncleanable map[*partlog.Log]bool
	gauges      cleanerGauges
}

// cleanerGauges are Kafka's LogCleaner and LogCleanerManager metrics under
// the names Strimzi's JMX exporter gives them.
type cleanerGauges struct {
	recopyPercent, maxCleanTimeSecs, maxDirtyPercent, uncleanable, deadThreads prometheus.Gauge
}

func newCleanerGauges(reg prometheus.Registerer) cleanerGauges {
	g := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
	}
	gs := cleanerGauges{
		recopyPercent:    g("kafka_log_logcleaner_cleaner_recopy_percent", "Bytes written as a percentage of bytes read by the last cleaning pass."),
		maxCleanTimeSecs: g("kafka_log_logcleaner_max_clean_time_secs", "Duration of the last cleaning pass in seconds."),
		maxDirtyPercent:  g("kafka_log_logcleanermanager_max_dirty_percent", "Largest cleanable dirty ratio of a compacted log at the last pick, in percent."),
		uncleanable:      g("kafka_log_logcleanermanager_uncleanable_partitions_count", "Partitions a cleaning pass failed on, skipped until restart."),
		deadThreads:      g("kafka_log_logcleaner_dead_thread_count", "Cleaner threads that died (always 0: the cleaner survives a failed pass)."),
	}
	if reg != nil {
		reg.MustRegister(gs.recopyPercent, gs.maxCleanTimeSecs, gs.maxDirtyPercent, gs.uncleanable, gs.deadThreads)
	}
	return gs
}

func (b *Broker) newCleaner() *logCleaner {
	c := &logCleaner{
		catalog:     b.catalog,
		now:         b.cfg.Now,
		backoff:     time.Duration(b.s.props.Int64("log.cleaner.backoff.ms")) * time.Millisecond,
		threads:     int(b.s.props.Int64("log.cleaner.threads")),
		log:         b.log.With("component", "log-cleaner"),
		inProgress:  map[*partlog.Log]bool{},
		uncleanable: map[*partlog.Log]bool{},
	}
	// Kafka splits the dedupe buffer among its threads.
	perThreadBytes := b.s.props.Int64("log.cleaner.dedupe.buffer.size") / int64(max(1, c.threads))
	c.maxMapEntries = int(max(1, min(float64(perThreadBytes/dedupeBytesPerKey)*dedupeLoadFactor, 1<<30)))
	c.clean = func(p *topics.Partition, upTo int64, now time.Time) (partlog.CleanStats, error) {
		return p.Log.Clean(upTo, now, c.maxMapEntries)
	}
	var reg prometheus.Registerer
	if b.metrics != nil {
		reg = b.metrics.Registry()
	}
	c.gauges = newCleanerGauges(reg)
	c.stableOffset = func(p *topics.Partition) (int64, bool) {
		// A single node's high watermark is its log end offset.
		return p.Log.FirstUnstableOffset(), true
	}
	if b.cluster != nil {
		repl := b.cluster.repl
		c.stableOffset = func(p *topics.Partition) (int64, bool) {
			hw, err := repl.ReplicaHighWatermark(p.Topic.ID, p.Index)
			if err != nil {
				return 0, false
			}
			return min(hw, p.Log.FirstUnstableOffset()), true
		}
	}
	return c
}

// run runs the workers until ctx ends and they have stopped.
func (c *logCleaner) run(ctx context.Context) {
	var wg sync.WaitGroup
	for range c.threads {
		wg.Go(func() { c.work(ctx) })
	}
	wg.Wait()
}

// work is one worker: it cleans straight on while logs are due, sleeping
// the backoff when none is.
func (c *logCleaner) work(ctx context.Context) {
	for {
		cleaned := c.cleanOnce()
		wait := c.backoff
		if cleaned {
			wait = 0
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// cleanOnce cleans the dirtiest due log no other worker holds, if any,
// and reports whether it did.
func (c *logCleaner) cleanOnce() bool {
	c.mu.Lock()
	p, upTo := c.pickDirtiest()
	if p != nil {
		c.inProgress[p.Log] = true
	}
	c.mu.Unlock()
	if p == nil {
		return false
	}
	defer func() {
		c.mu.Lock()
		delete(c.inProgress, p.Log)
		c.mu.Unlock()
	}()
	start := c.now()
	st, err := c.clean(p, upTo, start)
	switch {
	case errors.Is(err, partlog.ErrCleaningAborted):
		c.log.Debug("cleaning aborted", "topic", p.Topic.Name, "partition", p.Index, "err", err)
		return true
	case err != nil:
		c.mu.Lock()
		c.uncleanable[p.Log] = true
		c.gauges.uncleanable.Set(float64(len(c.uncleanable)))
		c.mu.Unlock()
		c.log.Error("cleaning failed; partition marked uncleanable", "topic", p.Topic.Name, "partition", p.Index, "err", err)
		return true
	}
	took := c.now().Sub(start)
	c.gauges.maxCleanTimeSecs.Set(took.Seconds())
	if st.BytesRead > 0 {
		c.gauges.recopyPercent.Set(100 * float64(st.BytesRetained) / float64(st.BytesRead))
	}
	c.log.Info("cleaned log", "topic", p.Topic.Name, "partition", p.Index,
		"dirty_from", st.FirstDirtyOffset, "dirty_to", st.EndOffset, "segments", st.SegmentsRead,
		"rewritten", st.SegmentsRewritten, "bytes_read", st.BytesRead, "bytes_written", st.BytesWritten,
		"records_removed", st.RecordsRemoved, "took", took)
	return true
}

// pickDirtiest returns the due compacted log with the largest dirty ratio
// (a log whose max.compaction.lag.ms passed counts as due whatever its
// ratio) that no worker is cleaning, and its cleaning bound. c.mu is held.
func (c *logCleaner) pickDirtiest() (*topics.Partition, int64) {
	var best *topics.Partition
	var bestUpTo int64
	bestRatio, maxDirty := -1.0, 0.0
	now := c.now()
	defer func() { c.gauges.maxDirtyPercent.Set(100 * maxDirty) }()
	for _, t := range c.catalog.List() {
		for _, p := range t.Partitions() {
			if c.uncleanable[p.Log] || c.inProgress[p.Log] {
				continue
			}
			upTo, ok := c.stableOffset(p)
			if !ok {
				continue
			}
			cl, due := p.Log.CleanDue(upTo, now)
			maxDirty = max(maxDirty, cl.DirtyRatio)
			if !due {
				continue
			}
			ratio := cl.DirtyRatio
			if cl.MaxLagExceeded {
				ratio = 2 // ahead of any ratio: Kafka cleans these first
			}
			if ratio > bestRatio {
				best, bestUpTo, bestRatio = p, upTo, ratio
			}
		}
	}
	return best, bestUpTo
}
