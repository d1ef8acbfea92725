// Package checker judges a saved history offline. It reads package history
// only: no cluster, no clock, no goroutines of its own beyond what
// porcupine starts inside one Check call (and stops before returning).
// Checkers are safe to run concurrently over the same *history.History.
//
// Every [Checker] returns a [Result] whose Valid is Valid, Invalid or
// Unknown. Unknown means the checker could not decide — it ran out of time
// or context, or a precondition failed (a value sent twice, no completed
// final drain) — and is never reported as valid. Each anomaly carries a
// minimal explanation: values, offsets and the operations (indices, process,
// times) that show it.
//
// # Queue anomalies
//
// The [Queue] checker follows the definitions of Jepsen's Kafka workload
// (jepsen.tests.kafka), restated here for a workload of producers sending
// unique values to chosen partitions, consumers polling, explicit-offset
// fetches and a final drain.
//
// Observations of a partition are the (offset, value) pairs from ok sends
// (the acknowledged offset) and from every read (polls and fetches, any
// completion type that carries records). A partition's version order is its
// distinct observed offsets in ascending order; a value's index is the rank
// of the lowest offset it was observed at. Offsets nobody observed are not in
// the order, so gaps in offsets alone are never reported.
//
//   - inconsistent-offsets: one offset of a partition was observed holding
//     two or more different values.
//   - duplicate: one value was observed at two or more offsets of a
//     partition.
//   - unexpected: a read returned a value no send ever invoked, or one sent
//     to a different partition (garbage read).
//   - G1a (aborted read): a read returned a value whose send failed (type
//     fail: certainly not written). Values of info sends may be read or not.
//   - lost-write: a value acknowledged (ok send) at offset o was never read,
//     although some read returned an offset ≥ o of the same partition.
//   - unseen: a value acknowledged was never read, and it is not a
//     lost-write, although the history records a completed final drain
//     (phase "drain" followed by phase "done"). Without that drain unseen
//     cannot be judged and the verdict is at best Unknown.
//   - poll-skip: two successive ok polls by one process in one consumer
//     session read a partition, and the first record of the later poll is
//     more than one index after the last record of the earlier one: values
//     known to exist in between were skipped.
//   - nonmonotonic-poll: the same, but the later poll starts at or before
//     the index where the earlier one ended.
//   - int-poll-skip, int-nonmonotonic-poll: the same between consecutive
//     records of one partition inside a single poll.
//   - nonmonotonic-send: two successive sends by one process to one
//     partition, the earlier ok and the later ok or info, whose values were
//     both observed, and the later value's index is at or before the
//     earlier's. An info send ends the process's sequence: its records may
//     land any time later (Jepsen retires a process after an info for the
//     same reason).
//   - int-nonmonotonic-send: the same between consecutive records to one
//     partition inside a single send operation.
//
// Consumer sessions: an assign (ok or info) keeps the positions of
// partitions still assigned (none with seek_to_beginning); a subscribe keeps
// those of its topics; a partition listed in a poll's rebalanced field
// starts a new session in that poll and its records are not checked against
// each other; a poll that ended info ends every session of its process (it
// may have consumed records nobody saw). Fail polls and fetches never count
// as session reads.
//
// # Transactional anomalies
//
// [Txn] checks G1a, precommitted-read, lost-write, duplicate,
// inconsistent-offsets and unexpected over transactional histories (see
// the constants in txn.go). [TxnCycles] searches dependency cycles:
//
//   - G1c: a cycle of write-write and write-read edges that no interleaving
//     of Kafka's transactions allows (an invalid verdict).
//   - G0: a cycle of write-write edges alone. Kafka does not isolate
//     concurrent transactions' writes, so it is allowed: counted in
//     Stats["G0-allowed"], an anomaly only with StrictG0.
//   - G0-process, G1c-process: a cycle that needs a process edge (one
//     process completed T1, then invoked T2) besides write-write (and, for
//     G1c-process, write-read) edges.
//   - G0-realtime, G1c-realtime: a cycle that needs a realtime edge (T1
//     completed before T2 was invoked). Every -process cycle is also a
//     -realtime one and is reported as both, as Elle does.
//
// The process and realtime variants are searched in the same graph of
// events as G1c, so only cycles that contradict what a correct broker
// orders — offsets follow append order, read_committed reads follow the
// commit, an op's effects lie between its invocation and its completion —
// are reported, and each makes the verdict invalid. Process and realtime
// cycles that only Jepsen's coarser graph of whole operations shows (an
// interleaving of unisolated writes explains them; Jepsen's Kafka checker
// allows them) are findings, never fatal — G0-process-allowed,
// G1c-process-allowed, G0-realtime-allowed, G1c-realtime-allowed, counted
// in Stats — since Kafka promises neither serializability nor strict
// serializability. G-single and G2-item need anti-dependency edges, which
// polls cannot justify, and are not checked. Each cycle is explained by
// the operations on it and, per edge, the values and offsets (ww), the
// value read (wr), or the completion and invocation times (process,
// realtime); chains of realtime edges through operations that add nothing
// are shortened to the one edge that matters.
//
// # Consumer-group anomalies
//
// The [Group] checker judges group consumers from the membership changes
// each recorded (assigned, revoked, lost, with member id and generation)
// and their synchronous commits (member id, generation, per-partition
// result): double-ownership (two members owned one partition in the same
// generation), committed-offset-regression (a stale generation's commit
// accepted after a newer generation committed a higher offset, or a newly
// assigned member resuming below an offset acknowledged as committed before
// its assignment) and committed-offset-skip (a newly assigned member
// starting past every offset any commit could have set, over records known
// to exist). [Group] states each rule exactly.
//
// # Linearizability
//
// The [Linearizability] checker models each (topic, partition) as a
// sequential append-only log whose length is the high watermark, and checks
// the history against it with porcupine, partitioned per topic-partition:
//
//   - send of value v: appends v. If ok with offset o, legal only when the
//     log's length is o. A send that ended info may or may not have
//     happened: it may take effect any time after its invoke (its return is
//     placed after the end of the history), and is harmless if it never
//     does. Failed sends are dropped.
//   - fetch at offset o (ok): every record (o', v) returned must sit at o' in
//     the log; no records means o ≥ the log's length; the high watermark
//     returned must equal the log's length.
//   - list-offsets (ok): the high watermark returned equals the log's length.
//
// So an acknowledged record must be visible to any read that starts after
// the acknowledgement, no read may see a record before it is committed, and
// the high watermark never moves backwards — with one documented exception.
//
// # Stale high watermark after failover
//
// Kafka does not promise linearizable reads of the high watermark across a
// leader change. A follower learns the leader's high watermark only from
// its next fetch response, so a newly elected leader starts with a high
// watermark up to one fetch round behind the old leader's, and advances it
// only once followers fetch from it (KIP-101, KIP-207: ListOffsets answers
// OFFSET_NOT_AVAILABLE meanwhile, but consumer Fetch reports the lagging
// value). Apache Kafka 4.1.1 with safe settings shows this for 2–3 s after
// a leader kill (BUGS.md #8), and so does the reference cluster (#11);
// nothing acknowledged is lost.
//
// So by default a lagging read — a fetch or list-offsets reporting a high
// watermark below an offset that operations returned before it was
// invoked had proven committed — may be excused. The history records no
// leader epochs, so the leader change is anchored at the first lagging
// read of a partition after a fresh one; that read and the lagging reads
// after it (until the next fresh read or the end of its window) form an
// episode. A lagging read is excused only when
//
//   - it overlaps a fault window or the StaleHWGrace (10 s) after it;
//   - the offsets it missed, [its high watermark, the highest proven
//     committed), were all proven committed within StaleHWSpan (1.5 s: a
//     replica fetch round of 500 ms plus slack) of each other and none
//     earlier than StaleHWSpan before the window began — the old leader's
//     last acknowledgements before it stopped or lost leadership, which
//     the new leader had not heard of yet. A long window (a 17 s rolling
//     restart) may change leaders late: what counts is how the missed
//     acknowledgements cluster, not when the window began. A new leader
//     answering 0, or a lag covering seconds of acknowledgements, stays a
//     violation — except after a restart: the missed offsets may also
//     start no earlier than StaleHWCheckpoint + StaleHWSpan before an
//     earlier kill -9 window (kill, az-loss) that healed before this
//     window began. StaleHWCheckpoint is the brokers' high-watermark
//     checkpoint interval, how old a killed replica's checkpoint can be:
//     100 ms on the reference broker (the default), 5 s on Apache Kafka
//     (replica.high.watermark.checkpoint.interval.ms). The harness records
//     the run's cluster's in the history header (params.hw_checkpoint,
//     history.ParamHWCheckpoint), so `highwater check RUN_DIR` re-checks
//     with the same allowance; --hw-checkpoint overrides it. The replica
//     that kill restarted reloads the high watermark it checkpointed
//     before dying; it rejoins the ISR by a fetch that reaches the
//     leader's high watermark and learns that high watermark only from the
//     answer, which a leader with no new records holds for
//     replica.fetch.wait.max.ms; if that leader dies first (this window),
//     the restarted replica is elected from the ISR with its checkpointed
//     high watermark, behind everything acknowledged while it was down
//     (planted-control-leader-kills seed 1: n3 killed at 2.0 s with 27
//     checkpointed, n2 shows 33 at 6.0 s and adds n3 to the ISR, n2 is
//     killed at 7.0 s, n3 leads and answers 27 at 10.4 s). Its log holds
//     every committed record, so nothing is lost. One window alone, even
//     a long rolling restart, is never excused this way;
//   - nothing was proven committed after the episode's first lagging read
//     returned: a new leader acknowledges nothing before it has caught
//     up, so answers trailing the acks by a constant lag while writes go
//     on (KAFKA.md's planted stale read) are no leader change and stay
//     violations.
//
// An excused read is still checked against the log: its high watermark
// must not exceed the log's length, an empty fetch only needs its offset
// at or past the high watermark it reported, and every record it returns
// must be below that high watermark and in the log at its offset (serving
// past the high watermark stays a violation). A lagging read that is not
// excused is checked strictly and opens no episode. Known limits of the
// anchor: a second leader change after the first new leader caught up and
// acknowledged writes, with no fresh read of the partition in between, and
// a deposed leader still answering with its frozen high watermark while
// the new one acknowledges writes, are judged not linearizable.
//
// Reads outside fault windows and their grace stay strict. Each episode of
// lagging reads on a partition is reported as a non-fatal finding,
// stale-high-watermark-after-failover, in Result.Findings, with its span,
// the number of reads, how far behind they were and the operation that
// proved the higher offset; the verdict stays valid. Lost or changed
// records, reordered offsets, reads of records never written and
// acknowledged offsets never readable after recovery are judged exactly as
// before. StrictHighWatermark (highwater check --strict-hw) turns the
// relaxation off.
//
// Polls are not modelled (they
// depend on client position). On failure the checker writes porcupine's
// visualization to <OutDir>/linearizability/<topic>-<partition>.html and
// names the longest legal prefix and the operation it could not take. It
// bounds itself with Timeout and its context: out of time means Unknown.
//
// To keep porcupine's memory bounded on long runs (it grows with the square
// of a partition's length), each partition is first tightened with what
// polls observed (a value read at offset o was written at o before that
// read returned) and then cut into chunks of about 500 operations: by
// offset when every send's offset and every read's high watermark is known
// (the log forces their order; linslot.go), otherwise wherever no
// operation is in flight (linchunk.go). Each chunk is checked from the log
// its predecessors force, on GOMAXPROCS workers; a stretch that cannot be
// cut and exceeds MaxChunkOperations is Unknown. A generated
// 1,000,000-operation history over 16 partitions (225 MiB) loads and checks
// (BenchmarkCheckMillion) in 31–57 s on two cores shared with other work
// (load average 5–16) with a peak RSS of 1.44 GiB; about half of the time
// and 579 MiB of the memory are history.Load's JSON decoding and the
// in-memory history.
package checker
