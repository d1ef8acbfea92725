// Package topics is the single-node broker's catalogue of topics: names,
// topic ids, partition counts, per-topic config overrides, and the open
// partition log of every partition. The catalogue persists itself to
// topics.json in the data directory (written to a temporary file, synced,
// then renamed, so a crash leaves the old or the new catalogue, never half).
//
// In cluster mode (Options.Managed) the topic list comes from the Raft
// metadata image instead: the broker's driver calls Sync and Drop, topics
// hold only the partitions this node hosts (Topic.Partition looks them up
// by index), and topics.json is neither read nor written.
//
// Concurrency: every method is safe for concurrent use. Partition logs are
// themselves safe for concurrent use; the catalogue's lock only guards the
// maps and the catalogue file.
package topics
