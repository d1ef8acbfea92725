// Package quorum runs the controller's metadata log on Raft: a thin driver
// around etcd raft's RawNode (go.etcd.io/raft/v3, the pure core) with
// durable storage on the vfs seam and two transports. Records are opaque
// bytes here; broker/internal/metadata gives them meaning.
//
// Contract:
//
//   - Membership is static (controller.quorum.voters): Config.Peers is the
//     voter set, the same on every node. A fresh directory bootstraps an
//     empty log that already knows the voters; no configuration-change
//     entries are ever written.
//   - Propose is served by the leader only (raft's proposal forwarding is
//     off) and returns the entry's index once it is committed and applied
//     on this node. A *NotLeaderError (errors.Is ErrNotLeader, naming the
//     known leader) or ErrDropped means the entry is certainly not
//     committed; ErrStopped, ErrOutcomeUnknown and context errors leave the
//     outcome unknown. The proposer recognises its entry by an envelope
//     (proposer id, sequence) checked against the term it was appended in.
//   - Config.Apply sees every committed non-empty entry in index order,
//     exactly once per process lifetime; after a restart, New hands the
//     newest snapshot to Config.Restore and the entries after it are
//     replayed through Apply. Indexes are increasing but not contiguous
//     (raft's own empty entries are skipped).
//   - Durability: each Ready's snapshot, entries and hard state are written
//     and (when raft says so) fsynced before its messages are sent and
//     before its committed entries are applied. The WAL (Dir/wal) is a
//     checkpoint segment plus appended CRC-framed records; recovery cuts a
//     torn tail, so a crash loses only unsynced writes. Snapshot files
//     (Dir/snap) are written atomically. Every SnapshotEvery applied
//     entries the state machine is snapshotted and the log compacted (the
//     WAL rewritten into a new checkpoint segment).
//   - Transport.Send is called on the node goroutine and must not block;
//     messages may be lost, duplicated or reordered (raft tolerates all
//     three). Inbound messages enter through Node.Step. MemNet is the
//     seeded in-memory network for tests; TCPTransport speaks
//     length-prefixed protobuf frames with a Dial seam for proxies.
//
// Goroutines: Start launches the one goroutine that owns the RawNode and
// the storage; it ticks, steps inbound messages, takes proposals, handles
// Readys and calls Apply, Snapshot and Restore. It exits on Stop, on its
// context, or on a storage or state-machine failure (Err says which).
// Leader, Status, Propose and Step are safe from any goroutine. MemNet runs
// one delivery goroutine per attached node; TCPTransport one accept loop,
// one reader per inbound connection and one writer per peer.
package quorum
