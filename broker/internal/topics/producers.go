package topics

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/highwater-io/highwater/broker/internal/faults"
	"github.com/highwater-io/highwater/broker/internal/partlog"
	"github.com/highwater-io/highwater/broker/internal/producers"
	"github.com/highwater-io/highwater/broker/internal/records"
	"github.com/highwater-io/highwater/internal/vfs"
)

// producerState is one partition's idempotent-producer state. mu is held
// across check, log append and update, so two retries of the same batch
// cannot both pass the duplicate check.
type producerState struct {
	mu          sync.Mutex
	state       *producers.State
	now         func() time.Time
	hasSnapshot bool // a snapshot file exists and must be kept current
}

// AppendResult is partlog's result plus whether the batch was a duplicate
// of one already in the log, in which case nothing was appended and the
// offsets are the original batch's.
type AppendResult struct {
	partlog.AppendResult
	Duplicate bool
	// OriginalMaxTimestamp is the duplicate's original max timestamp (its
	// log append time on LogAppendTime topics); -1 when not a duplicate.
	OriginalMaxTimestamp int64
}

// Append appends one batch the produce path has validated. A batch with a
// producer id first goes through the partition's idempotence checks
// (producers.State.Check): a duplicate is not appended, an out-of-order or
// fenced batch is refused with the producers package's sentinel errors.
func (p *Partition) Append(batch []byte) (AppendResult, error) {
	h, err := records.ReadHeader(batch)
	if err != nil {
		return AppendResult{}, err
	}
	if h.Control() && h.ProducerID >= 0 && p.producers != nil {
		return p.appendMarker(batch)
	}
	if h.ProducerID < 0 || p.producers == nil {
		res, err := p.Log.Append(batch)
		return AppendResult{AppendResult: res, OriginalMaxTimestamp: -1}, err
	}
	ps := p.producers
	ps.mu.Lock()
	defer ps.mu.Unlock()
	nowMs := ps.now().UnixMilli()
	b := producerBatch(h)
	check, err := ps.state.Check(b, nowMs)
	if errors.Is(err, producers.ErrInvalidProducerEpoch) && b.Transactional && faults.Planted(faults.TxnZombieWrite) {
		err = nil // planted bug (faults/planted.go): a fenced producer's write is accepted
	}
	if err != nil {
		return AppendResult{}, err
	}
	if check.Duplicate {
		o := check.Original
		return AppendResult{
			AppendResult:         partlog.AppendResult{BaseOffset: o.FirstOffset, LastOffset: o.LastOffset, LogStartOffset: p.Log.StartOffset()},
			Duplicate:            true,
			OriginalMaxTimestamp: o.MaxTimestampMs,
		}, nil
	}
	res, err := p.Log.Append(batch)
	if err != nil {
		return AppendResult{}, err
	}
	b.BaseOffset = res.BaseOffset
	ps.state.Update(b, nowMs)
	return AppendResult{AppendResult: res, OriginalMaxTimestamp: -1}, nil
}

func producerBatch(h records.Header) producers.Batch {
	return producers.Batch{ProducerID: h.ProducerID, ProducerEpoch: h.ProducerEpoch, BaseSequence: h.BaseSequence,
		LastOffsetDelta: h.LastOffsetDelta, MaxTimestampMs: h.MaxTimestamp, BaseOffset: h.BaseOffset,
		Transactional: h.Transactional()}
}

// appendMarker appends a transaction marker (WriteTxnMarkers) after the
// producer state's fencing checks (producers.State.CheckMarker) and ends
// the producer's transaction in that state.
func (p *Partition) appendMarker(batch []byte) (AppendResult, error) {
	m, err := partlog.ParseMarker(batch)
	if err != nil {
		return AppendResult{}, err
	}
	ps := p.producers
	ps.mu.Lock()
	defer ps.mu.Unlock()
	nowMs := ps.now().UnixMilli()
	pm := producerMarker(m)
	if err := ps.state.CheckMarker(pm, nowMs); err != nil {
		return AppendResult{}, err
	}
	res, err := p.Log.Append(batch)
	if err != nil {
		return AppendResult{}, err
	}
	pm.Offset = res.BaseOffset
	ps.state.ApplyMarker(pm, nowMs)
	return AppendResult{AppendResult: res, OriginalMaxTimestamp: -1}, nil
}

func producerMarker(m partlog.Marker) producers.Marker {
	return producers.Marker{ProducerID: m.ProducerID, ProducerEpoch: m.ProducerEpoch, CoordinatorEpoch: m.CoordinatorEpoch,
		Commit: m.Commit, Offset: m.Offset, TimestampMs: m.TimestampMs}
}

// applyLogged feeds an appended (or replayed) batch to the producer state:
// data batches through Update, transaction markers through ApplyMarker.
func applyLogged(state *producers.State, batch []byte, h records.Header, nowMs int64) {
	if h.ProducerID < 0 {
		return
	}
	if !h.Control() {
		state.Update(producerBatch(h), nowMs)
		return
	}
	if m, err := partlog.ParseMarker(batch); err == nil {
		state.ApplyMarker(producerMarker(m), nowMs)
	}
}

// Producers returns the partition's producers not expired now
// (DescribeProducers); nil when the partition keeps no producer state.
func (p *Partition) Producers() []producers.Producer {
	ps := p.producers
	if ps == nil {
		return nil
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return ps.state.Producers(ps.now().UnixMilli())
}

// producerConfig reads producer.id.expiration.ms and its check interval,
// falling back to Kafka's defaults where the broker config does not know
// the keys.
func (c *Catalog) producerConfig() producers.Config {
	cfg := producers.DefaultConfig()
	if v, _, ok := c.broker.Get("producer.id.expiration.ms"); ok {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n > 0 {
			cfg.ExpirationMs = n
		}
	}
	if v, _, ok := c.broker.Get("producer.id.expiration.check.interval.ms"); ok {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n > 0 {
			cfg.SweepIntervalMs = n
		}
	}
	return cfg
}

// scanChunkBytes bounds each read of the rebuild scan.
const scanChunkBytes = 1 << 20

// producerSnapshotFile, in the partition directory, is the producer state
// as of a log offset (producers.State.Snapshot), written at a clean close
// after the log is flushed, so everything below its offset is durable.
const producerSnapshotFile = "producer-state.snapshot"

// loadProducers rebuilds a partition's producer state: from the snapshot
// if there is a usable one, then by replaying the header of every batch
// above it (from the log start offset without a snapshot, which reads the
// whole log once).
func (c *Catalog) loadProducers(p *Partition) error {
	ps := &producerState{state: producers.New(c.producerConfig()), now: c.now}
	if faults.Planted(faults.ForgetProducerState) {
		p.producers = ps // planted bug (faults/planted.go): start with no producer state
		return nil
	}
	nowMs := c.now().UnixMilli()
	end := p.Log.EndOffset()
	from := p.Log.StartOffset()
	snapPath := filepath.Join(c.partitionDir(p.Topic.Name, p.Index), producerSnapshotFile)
	data, err := vfs.ReadFile(c.fs, snapPath)
	switch {
	case vfs.IsNotExist(err):
	case err != nil:
		return err
	default:
		ps.hasSnapshot = true
		off, err := ps.state.Restore(data, nowMs)
		if err != nil || off > end {
			// Corrupt, or describing data the log no longer has: rebuild
			// from the log alone, and remove the file so it cannot be
			// mistaken for valid once the log has grown past its offset.
			ps.state = producers.New(c.producerConfig())
			if err := c.fs.Remove(snapPath); err != nil && !vfs.IsNotExist(err) {
				return err
			}
			ps.hasSnapshot = false
		} else {
			from = max(from, off)
		}
	}
	if err := replayProducers(p, ps.state, from, end, nowMs); err != nil {
		return err
	}
	p.producers = ps
	return nil
}

func replayProducers(p *Partition, state *producers.State, from, end, nowMs int64) error {
	for offset := from; offset < end; {
		chunk, err := p.Log.Read(offset, scanChunkBytes, end)
		if err != nil {
			return fmt.Errorf("topics: rebuilding producer state of %s-%d at offset %d: %w", p.Topic.Name, p.Index, offset, err)
		}
		if len(chunk) == 0 {
			break
		}
		for len(chunk) > 0 {
			h, err := records.ReadHeader(chunk)
			if err != nil || h.Size() > len(chunk) {
				return fmt.Errorf("topics: rebuilding producer state of %s-%d at offset %d: %w", p.Topic.Name, p.Index, offset, records.ErrCorrupt)
			}
			batch := chunk[:h.Size()]
			chunk = chunk[h.Size():]
			if h.LastOffset() < offset {
				continue
			}
			offset = h.LastOffset() + 1
			applyLogged(state, batch, h, nowMs)
		}
	}
	return nil
}

// saveProducers writes the partition's producer snapshot. The caller has
// flushed the log. A partition that never had producers and has no old
// snapshot to supersede writes nothing.
func (c *Catalog) saveProducers(p *Partition) error {
	ps := p.producers
	if ps == nil {
		return nil
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.state.Len() == 0 && !ps.hasSnapshot {
		return nil
	}
	data := ps.state.Snapshot(p.Log.EndOffset())
	path := filepath.Join(c.partitionDir(p.Topic.Name, p.Index), producerSnapshotFile)
	if err := vfs.WriteFileAtomic(c.fs, path, data, 0o644); err != nil {
		return fmt.Errorf("topics: writing producer snapshot of %s-%d: %w", p.Topic.Name, p.Index, err)
	}
	ps.hasSnapshot = true
	return nil
}

// producerIDsFile holds the producer id high-water mark: "0\n<mark>\n", a
// format version then every id below the mark may have been handed out.
const producerIDsFile = "producer-ids"

// ProducerIDs allocates producer ids that are never reused, persisting a
// reservation of producers.DefaultIDBlockSize ids at a time in the data
// directory (temporary file, fsync, rename, directory fsync). Safe for
// concurrent use.
type ProducerIDs struct {
	mu    sync.Mutex
	alloc *producers.IDAllocator
}

// OpenProducerIDs loads the high-water mark from dir.
func OpenProducerIDs(fsys vfs.FS, dir string) (*ProducerIDs, error) {
	name := filepath.Join(dir, producerIDsFile)
	var mark int64
	data, err := vfs.ReadFile(fsys, name)
	switch {
	case vfs.IsNotExist(err):
	case err != nil:
		return nil, err
	default:
		lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
		if len(lines) != 2 || lines[0] != "0" {
			return nil, fmt.Errorf("topics: %s: unknown format %q", name, data)
		}
		if mark, err = strconv.ParseInt(lines[1], 10, 64); err != nil || mark < 0 {
			return nil, fmt.Errorf("topics: %s: bad high-water mark %q", name, lines[1])
		}
	}
	alloc, err := producers.NewIDAllocator(mark, producers.DefaultIDBlockSize, func(mark int64) error {
		// vfs's version also syncs the directory: the new mark must be
		// durable before any id under it is handed out.
		return vfs.WriteFileAtomic(fsys, name, []byte("0\n"+strconv.FormatInt(mark, 10)+"\n"), 0o644)
	})
	if err != nil {
		return nil, err
	}
	return &ProducerIDs{alloc: alloc}, nil
}

// NextProducerID returns a producer id never handed out before.
func (a *ProducerIDs) NextProducerID() (int64, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	id, err := a.alloc.Next()
	if err != nil && !errors.Is(err, producers.ErrIDsExhausted) {
		err = fmt.Errorf("topics: %w", err)
	}
	return id, err
}
