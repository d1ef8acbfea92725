// Package topics is the single-node broker's catalogue of topics: names,
// topic ids, partition counts, per-topic config overrides, and the open
// partition log of every partition. The catalogue persists itself to
// topics.json in the data directory (written to a temporary file, synced,
// then renamed, so a crash leaves the old or the new catalogue, never half).
//
// A later issue moves this state into the Raft metadata log; the catalogue's
// methods are the seam the handlers use, so they will not change.
//
// Concurrency: every method is safe for concurrent use. Partition logs are
// themselves safe for concurrent use; the catalogue's lock only guards the
// maps and the catalogue file.
package topics
