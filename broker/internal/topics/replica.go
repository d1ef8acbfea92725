package topics

import "github.com/highwater-io/highwater/broker/internal/records"

// AppendReplica appends one batch a follower fetched from its leader
// (cluster mode): offsets and leader epoch are kept as the leader wrote
// them (partlog.Log.AppendReplica) and the producer state learns the batch
// (transaction markers included), so this replica can check the producer's next sequence if it
// becomes leader. Catalog.TruncateTo rolls that state back (truncate.go).
func (p *Partition) AppendReplica(batch []byte) error {
	h, err := records.ReadHeader(batch)
	if err != nil {
		return err
	}
	if h.ProducerID < 0 || p.producers == nil {
		_, err := p.Log.AppendReplica(batch)
		return err
	}
	ps := p.producers
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if _, err := p.Log.AppendReplica(batch); err != nil {
		return err
	}
	applyLogged(ps.state, batch, h, ps.now().UnixMilli())
	return nil
}

// PartitionDir is the directory holding partition p of topic (where the
// replication driver keeps its leader-epoch-checkpoint).
func (c *Catalog) PartitionDir(topic string, p int32) string { return c.partitionDir(topic, p) }
