package partlog

import (
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/highwater-io/highwater/broker/internal/records"
)

// filterSegment writes the cleaned content of s to w under the read lock:
// the batches that survive, rebuilt where they lost records. It returns
// the aborted transaction index entries whose markers stay; changed is
// false when the content is identical.
func (l *Log) filterSegment(p *cleanPlan, s *segment, now time.Time, w io.Writer) (kept []AbortedTxn, changed bool, err error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed || !slices.Contains(l.segs, s) {
		return nil, false, fmt.Errorf("%w: segment %d", ErrCleaningAborted, s.base)
	}
	cleanedAt, wasCleaned := p.state.cleanedAtMs[s.base]
	// Tombstones and markers go once delete.retention.ms has passed since
	// the segment was first cleaned (Kafka's delete horizon).
	horizonPassed := wasCleaned && now.UnixMilli()-cleanedAt >= l.cfg.DeleteRetention.Milliseconds()
	removedMarkers := map[int64]bool{}
	err = forEachBatch(s, func(h records.Header, batch []byte) error {
		if h.Control() {
			keep := p.keepControl(h, batch, horizonPassed)
			if !keep {
				removedMarkers[h.BaseOffset] = true
				changed = true
				p.recordsRemoved += int64(h.NumRecords)
				return nil
			}
			_, err := w.Write(batch)
			return err
		}
		nb, err := p.filterData(h, batch, horizonPassed)
		if err != nil {
			return fmt.Errorf("partlog: cleaner: %s at %d: %w", s.paths[0], h.BaseOffset, err)
		}
		if nb == nil {
			changed = true
			return nil
		}
		if len(nb) != len(batch) || &nb[0] != &batch[0] {
			changed = true
		}
		if h.Transactional() && h.ProducerID >= 0 {
			p.openData[h.ProducerID] = true
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

// keepControl decides a control batch: a transaction marker stays until
// its segment's delete horizon passed and no data of its transaction is
// left in the cleaned log (else a rebuild from the log would think the
// transaction still open). Other control batches stay.
func (p *cleanPlan) keepControl(h records.Header, batch []byte, horizonPassed bool) bool {
	p.recordsRead += int64(h.NumRecords)
	m, err := ParseMarker(batch)
	if err != nil {
		return true
	}
	dataLeft := p.openData[m.ProducerID]
	delete(p.openData, m.ProducerID)
	return dataLeft || !horizonPassed
}

// filterData returns the batch to keep for a data batch: the batch itself
// when every record stays, a rebuilt batch (same base offset, last offset
// delta, producer fields and attributes) when some do or when it must stay
// empty as its producer's last batch, or nil when it goes.
func (p *cleanPlan) filterData(h records.Header, batch []byte, horizonPassed bool) ([]byte, error) {
	_, recs, err := records.Decode(batch)
	if err != nil {
		return nil, err
	}
	p.recordsRead += int64(len(recs))
	aborted := p.isAborted(h)
	keep := recs[:0:0]
	for _, r := range recs {
		if aborted || r.Key == nil {
			continue // aborted data, or keyless (Kafka's cleaner drops those)
		}
		off := h.BaseOffset + int64(r.OffsetDelta)
		if latest, ok := p.latest[string(r.Key)]; ok && latest > off {
			continue // a newer record has the key
		}
		if r.Value == nil && horizonPassed {
			continue // tombstone past its delete.retention.ms
		}
		keep = append(keep, r)
	}
	p.recordsRemoved += int64(len(recs) - len(keep))
	if len(keep) == len(recs) {
		return batch, nil
	}
	if len(keep) == 0 && !(h.ProducerID >= 0 && p.lastData[h.ProducerID] == h.LastOffset()) {
		return nil, nil
	}
	opts := records.BuildOptions{
		BaseOffset:           h.BaseOffset,
		PartitionLeaderEpoch: h.PartitionLeaderEpoch,
		FirstTimestamp:       h.FirstTimestamp,
		ProducerID:           h.ProducerID,
		ProducerEpoch:        h.ProducerEpoch,
		BaseSequence:         h.BaseSequence,
		LastOffsetDelta:      h.LastOffsetDelta,
		Transactional:        h.Transactional(),
		LogAppendTime:        h.LogAppendTime(),
		MaxTimestamp:         h.MaxTimestamp,
	}
	if !h.LogAppendTime() {
		// CreateTime: the largest timestamp of what is left (Kafka).
		opts.MaxTimestamp = h.FirstTimestamp
		for _, r := range keep {
			opts.MaxTimestamp = max(opts.MaxTimestamp, h.FirstTimestamp+r.TimestampDelta)
		}
	}
	if h.LastOffsetDelta == 0 && len(keep) == 0 {
		opts.LastOffsetDelta = 0
	}
	return records.Build(opts, h.Codec(), keep)
}
