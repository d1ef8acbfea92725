// Package faults holds the reference broker's fault seams and planted bugs:
// the switches the chaos harness (nemesis/, harness/reference) turns to
// inject faults from inside the broker and to check that its checker finds
// known bugs. Nothing here is on by default and nothing is safe in
// production.
//
// Broker properties (the contract with the nemesis side):
//
//   - highwater.fault.page.cache=true (default false): the broker's
//     filesystem is a vfs.PageCache over the OS, so every log, index,
//     checkpoint and metadata-log write stays in the broker process's
//     memory until it is fsynced. kill -9 then loses every unsynced write,
//     as a power loss would. When the broker fsyncs follows Kafka:
//     log.flush.interval.messages (default: never) and
//     log.flush.interval.ms (default: never), plus segment roll, the
//     checkpoints (written with fsync + rename) and a clean shutdown
//     (which writes everything back). So with the defaults a killed node
//     keeps only what rolled or was checkpointed; with
//     log.flush.interval.messages=1 it keeps every appended batch.
//
//   - highwater.fault.endpoints=true (default false) adds to the metrics
//     listener (highwater.metrics.listener, which must be set):
//
//     PUT    /fault/clock?offset_ms=N  skew the clock by N ms (may be
//     negative); answers {"offset_ms":N}
//     GET    /fault/clock              answers {"offset_ms":N}
//     DELETE /fault/clock              back to offset 0; answers {"offset_ms":0}
//
//     The skew applies to the broker's one clock seam (broker.Config.Now):
//     record timestamps (LogAppendTime and retention by time), replica lag
//     (replica.lag.time.max.ms, ISR shrink), broker session timeouts and
//     heartbeats in the controller, produce deadlines, group session
//     timeouts and offset retention. Timers and tickers keep real time:
//     a skew is a jump in what the clock reads, as NTP stepping a clock
//     would cause. Bad requests answer 400, other methods 405.
//
//   - highwater.fault.replica.fetch.delay.ms=N (default 0): every follower
//     fetcher of the process waits N ms before each fetch from its leader,
//     a slow replication link. Leaders then hold records no follower has
//     for about N ms at any time, the window that replication bugs need
//     to lose data on a leader kill; correct replication stays correct,
//     only slower (acks=all waits for the followers). With fault endpoints
//     on, the same is reachable at run time:
//
//     PUT    /fault/replication?delay_ms=N  (0..60000); answers {"delay_ms":N}
//     GET    /fault/replication             answers {"delay_ms":N}
//     DELETE /fault/replication             back to 0
//
//   - highwater.fault.produce.answer.delay.ms=N (default 0, at most 60000):
//     a Produce request that appended records is answered N ms after the
//     append (and after acks=all completed). A crash in that window leaves
//     batches in the log whose producers retry them: the window in which
//     an idempotent producer's sequence state must survive a restart.
//
//   - highwater.fault.replica.restart.delay.ms=N (default 0, at most
//     600000): a broker that starts over existing logs (log.dirs holds
//     the topic catalog: a restart, not a cluster's first start) sends no
//     follower fetch before N ms after its start (by wall time, whatever
//     the clock skew). Its replicas stay outside every ISR that long, as a
//     replica catching up after a crash would: the window in which an
//     election must not pick them. Correct elections pass them over.
//
//   - highwater.planted.bug=<name>[,<name>] (default empty) plants named
//     bugs (Bug constants; ParseBugs rejects unknown names). The broker logs
//     each at start at ERROR level. See BUGS.md ("Planted bugs") for what
//     each does and which scenario catches it.
//
// Planted bugs are process-wide (Plant/Planted), because they act deep in
// code that has no configuration of its own (the replication driver, the
// controller's election); the reference broker runs one node per process.
// Tests that plant bugs in-process must Reset afterwards. Planted reads
// one atomic value and is cheap on hot paths.
//
// Goroutines: none. Clock is safe for concurrent use; Handler serves on
// the caller's http.Server.
package faults
