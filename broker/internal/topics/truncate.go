package topics

import (
	"path/filepath"

	"github.com/highwater-io/highwater/broker/internal/producers"
	"github.com/highwater-io/highwater/internal/vfs"
)

// TruncateTo removes p's records at and above offset (a follower dropping
// a tail that diverged from its new leader, cluster mode) and rolls the
// partition's producer state back with it: the state is rebuilt from the
// snapshot (when it describes no removed record) and the log left, so an
// idempotent producer's next sequence is checked against what this
// replica still holds if it becomes leader, as Kafka's
// ProducerStateManager.truncateAndReload does.
func (c *Catalog) TruncateTo(p *Partition, offset int64) error {
	return c.truncate(p, false, func() error { return p.Log.TruncateTo(offset) })
}

// TruncateFullyAndStartAt empties p and restarts it at offset (a follower
// whose log is entirely outside its leader's), clearing its producer
// state and snapshot: nothing of the old log describes the new one.
func (c *Catalog) TruncateFullyAndStartAt(p *Partition, offset int64) error {
	return c.truncate(p, true, func() error { return p.Log.TruncateFullyAndStartAt(offset) })
}

// truncate runs cut under the producer state's lock (no append can slip
// between the cut and the rebuild) and rebuilds the state when the log
// lost records.
func (c *Catalog) truncate(p *Partition, fully bool, cut func() error) error {
	ps := p.producers
	if ps == nil {
		return cut()
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	start, end := p.Log.StartOffset(), p.Log.EndOffset()
	if err := cut(); err != nil {
		return err
	}
	newStart, newEnd := p.Log.StartOffset(), p.Log.EndOffset()
	if !fully && newStart == start && newEnd >= end {
		return nil // nothing removed
	}
	nowMs := ps.now().UnixMilli()
	state := producers.New(c.producerConfig())
	from := newStart
	snapPath := filepath.Join(c.partitionDir(p.Topic.Name, p.Index), producerSnapshotFile)
	data, err := vfs.ReadFile(c.fs, snapPath)
	switch {
	case vfs.IsNotExist(err):
	case err != nil:
		return err
	default:
		off, rerr := state.Restore(data, nowMs)
		if rerr != nil || off > newEnd || fully {
			// It describes removed records: never to be restored from
			// again.
			state = producers.New(c.producerConfig())
			if err := c.fs.Remove(snapPath); err != nil && !vfs.IsNotExist(err) {
				return err
			}
			ps.hasSnapshot = false
		} else {
			from = off
		}
	}
	if err := replayProducers(p, state, from, newEnd, nowMs); err != nil {
		return err
	}
	ps.state = state
	return nil
}
