package partlog

import (
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/highwater-io/highwater/broker/internal/records"
)

// Filtering one segment during a pass, with KIP-534's per-batch delete
// horizon as Kafka 3.1+ keeps it (Cleaner.cleanInto, MemoryRecords.filterTo):
//
//   - A data record stays if it has a key, no newer record has that key and
//     it is not aborted; a tombstone also needs its batch to have no delete
//     horizon yet or one still in the future.
//   - A kept batch holding a tombstone and no horizon is rewritten with the
//     horizon now + delete.retention.ms: attribute bit 6, the horizon as the
//     first timestamp, record timestamp deltas rebased so that every record
//     keeps its timestamp. A horizon once set never moves.
//   - A COMMIT or ABORT marker whose transaction had no data batch in this
//     pass (the data is gone) gets a horizon the same way; at or after it
//     the marker goes. Other control batches stay.
//   - Any other rewritten batch is rebuilt with its first kept record's
//     timestamp as the first timestamp (Kafka's MemoryRecordsBuilder), the
//     same codec, base offset, last offset delta and producer fields.
//   - A batch left without records goes, unless it is its producer's last
//     data batch or the last batch below the pass's first uncleanable
//     offset: then only its header stays (no records, no compression, no
//     first timestamp), as Kafka writes an empty batch.

// filterSegment writes the cleaned content of s to w under the read lock:
// the batches that survive, rebuilt where they lost records or gained a
// delete horizon. It returns the aborted transaction index entries whose
// markers stay; changed is false when the content is identical.
func (l *Log) filterSegment(p *cleanPlan, s *segment, now time.Time, w io.Writer) (kept []AbortedTxn, changed bool, err error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed || !slices.Contains(l.segs, s) {
		return nil, false, fmt.Errorf("%w: segment %d", ErrCleaningAborted, s.base)
	}
	t := filterTime{nowMs: now.UnixMilli(), newHorizonMs: now.UnixMilli() + l.cfg.DeleteRetention.Milliseconds()}
	removedMarkers := map[int64]bool{}
	err = forEachBatch(s, func(h records.Header, batch []byte) error {
		var nb []byte
		var err error
		if h.Control() {
			nb, err = p.filterControl(h, batch, t)
		} else {
			nb, err = p.filterData(h, batch, t)
		}
		if err != nil {
			return fmt.Errorf("partlog: cleaner: %s at %d: %w", s.paths[0], h.BaseOffset, err)
		}
		if h.Control() && h.NumRecords > 0 && (nb == nil || len(nb) == records.HeaderSize) {
			removedMarkers[h.LastOffset()] = true // gone, or kept as a bare header
		}
		if nb == nil {
			changed = true
			return nil
		}
		if len(nb) != len(batch) || &nb[0] != &batch[0] {
			changed = true
		}
		_, err = w.Write(nb)
		return err
	})
	if err != nil {
		return nil, false, err
	}
	for _, e := range s.aborted {
		if !removedMarkers[e.LastOffset] {
			kept = append(kept, e)
		}
	}
	return kept, changed, nil
}

// filterTime is the clock of one pass: tombstones and markers whose horizon
// is at or before nowMs go; batches gaining a horizon get newHorizonMs.
type filterTime struct {
	nowMs, newHorizonMs int64
}

// expired reports whether h has a delete horizon that has passed.
func (t filterTime) expired(h records.Header) bool {
	ms, ok := h.DeleteHorizonMs()
	return ok && ms <= t.nowMs
}

// filterControl decides a control batch: the batch itself, the batch
// rebuilt with a delete horizon, a bare header (keepEmpty), or nil when it
// goes. A transaction marker
// may go only once no data batch of its transaction was read since the
// producer's previous marker (else a rebuild from the log would think the
// transaction still open), and then only at its horizon.
func (p *cleanPlan) filterControl(h records.Header, batch []byte, t filterTime) ([]byte, error) {
	p.recordsRead += int64(h.NumRecords)
	if h.NumRecords == 0 {
		// Emptied by an earlier pass: it goes, unless it still ends the
		// cleaned range (Kafka).
		return p.keepEmpty(h, batch, false)
	}
	m, err := ParseMarker(batch)
	if err != nil {
		return batch, nil // not a COMMIT or ABORT marker: control batches stay
	}
	dataRead := p.txnData[m.ProducerID]
	delete(p.txnData, m.ProducerID)
	switch {
	case dataRead || (h.HasDeleteHorizon() && !t.expired(h)):
		return batch, nil
	case t.expired(h):
		p.recordsRemoved += int64(h.NumRecords)
		return p.keepEmpty(h, batch, false)
	}
	_, recs, err := records.Decode(batch)
	if err != nil {
		return nil, err
	}
	return rebuildBatch(h, recs, t.newHorizonMs, true)
}

// filterData returns the batch to keep for a data batch: the batch itself
// when every record stays and it needs no new horizon, a rebuilt batch when
// some records go or a kept tombstone needs a horizon, a bare header when
// none is left but the batch must stay (keepEmpty), or nil when it goes.
func (p *cleanPlan) filterData(h records.Header, batch []byte, t filterTime) ([]byte, error) {
	_, recs, err := records.Decode(batch)
	if err != nil {
		return nil, err
	}
	p.recordsRead += int64(len(recs))
	if h.Transactional() && h.ProducerID >= 0 {
		p.txnData[h.ProducerID] = true
	}
	aborted := p.isAborted(h)
	tombstonesExpired := t.expired(h)
	keep, tombstones := recs[:0:0], false
	for _, r := range recs {
		if aborted || r.Key == nil {
			continue // aborted data, or keyless (Kafka's cleaner drops those)
		}
		off := h.BaseOffset + int64(r.OffsetDelta)
		if latest, ok := p.latest[string(r.Key)]; ok && latest > off {
			continue // a newer record has the key
		}
		if r.Value == nil {
			if tombstonesExpired {
				continue // tombstone past its batch's delete horizon
			}
			tombstones = true
		}
		keep = append(keep, r)
	}
	p.recordsRemoved += int64(len(recs) - len(keep))
	needHorizon := tombstones && !h.HasDeleteHorizon()
	switch {
	case len(keep) == 0:
		return p.keepEmpty(h, batch, h.ProducerID >= 0 && p.lastData[h.ProducerID] == h.LastOffset())
	case len(keep) == len(recs) && !needHorizon:
		return batch, nil
	case needHorizon:
		return rebuildBatch(h, keep, t.newHorizonMs, true)
	}
	ms, ok := h.DeleteHorizonMs()
	return rebuildBatch(h, keep, ms, ok)
}

// keepEmpty decides a batch left without records: its bare header stays
// when it is its producer's last data batch (producersLast) or ends just
// below the first uncleanable offset (Kafka's RETAIN_EMPTY), else it goes.
func (p *cleanPlan) keepEmpty(h records.Header, batch []byte, producersLast bool) ([]byte, error) {
	switch {
	case !producersLast && h.LastOffset()+1 != p.upperBound:
		return nil, nil
	case h.NumRecords == 0:
		return batch, nil // emptied by an earlier pass
	}
	return emptyBatch(h)
}

// recordTimestamp is r's timestamp as a reader sees it.
func recordTimestamp(h records.Header, r records.Record) int64 {
	if h.LogAppendTime() {
		return h.MaxTimestamp
	}
	return h.FirstTimestamp + r.TimestampDelta
}

// rebuildBatch encodes keep (at least one record of h's batch) as a batch
// with h's base offset, last offset delta, producer fields, codec and
// timestamp type. Its first timestamp is horizonMs when hasHorizon (and
// the delete-horizon bit is set), else the first record's timestamp; the
// record timestamps themselves do not change.
func rebuildBatch(h records.Header, keep []records.Record, horizonMs int64, hasHorizon bool) ([]byte, error) {
	base := horizonMs
	if !hasHorizon {
		base = recordTimestamp(h, keep[0])
	}
	out := make([]records.Record, len(keep))
	maxTs := recordTimestamp(h, keep[0])
	for i, r := range keep {
		ts := recordTimestamp(h, r)
		maxTs = max(maxTs, ts)
		r.TimestampDelta = ts - base
		out[i] = r
	}
	if h.LogAppendTime() {
		maxTs = h.MaxTimestamp
	}
	nb, err := records.Build(rebuildOptions(h, base, maxTs), h.Codec(), out)
	if err != nil || !hasHorizon {
		return nb, err
	}
	return nb, records.SetDeleteHorizon(nb)
}

// emptyBatch is the header-only batch that keeps a batch's offsets,
// producer fields and type once all its records went: no records, no
// compression, no first timestamp, the original max timestamp.
func emptyBatch(h records.Header) ([]byte, error) {
	return records.Build(rebuildOptions(h, -1, h.MaxTimestamp), records.CodecNone, nil)
}

// rebuildOptions keeps h's offsets, leader epoch, producer fields and
// type for a rewritten batch with the given timestamps.
func rebuildOptions(h records.Header, firstTs, maxTs int64) records.BuildOptions {
	return records.BuildOptions{
		BaseOffset:           h.BaseOffset,
		PartitionLeaderEpoch: h.PartitionLeaderEpoch,
		FirstTimestamp:       firstTs,
		MaxTimestamp:         maxTs,
		ProducerID:           h.ProducerID,
		ProducerEpoch:        h.ProducerEpoch,
		BaseSequence:         h.BaseSequence,
		LastOffsetDelta:      h.LastOffsetDelta,
		Transactional:        h.Transactional(),
		Control:              h.Control(),
		LogAppendTime:        h.LogAppendTime(),
	}
}
