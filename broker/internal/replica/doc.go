// Package replica is the replication state machine of one partition replica,
// leader or follower, as Kafka runs it (Partition.scala, Replica.scala and the
// replica fetcher; KIP-101, KIP-279, KIP-320, KIP-497). It is pure: no I/O,
// clocks or goroutines. Inputs go in through Step, what to write, send and
// complete comes out of Ready, and Advance acknowledges a Ready.
//
// Contract:
//
//   - A controller decision (PartitionState) makes the replica leader or
//     follower. Decisions with an older partition epoch are ignored; leader
//     epochs only grow. A decision whose leader epoch is below the latest
//     epoch of the local log (a stale metadata image, as a restarted broker
//     replays before catching up) is refused with ErrBadInput and
//     ErrStaleDecision, state unchanged. A new leader epoch records its start offset (the log
//     end) in the leader-epoch cache.
//   - Leader: it tracks each follower's log end offset from its fetch offsets
//     and its last caught-up time (caught up at a fetch whose offset reaches
//     the leader's log end, or at the previous fetch if this one reaches what
//     the log end was then). The high watermark is the smallest log end
//     offset over the maximal ISR (the committed ISR plus replicas a pending
//     AlterPartition adds) and over caught-up eligible followers not yet in
//     it; it never moves back. A follower that has not caught up for
//     replica.lag.time.max.ms is proposed for removal (on Tick); one whose log
//     end reaches the high watermark and the epoch start is proposed for
//     addition (on its fetch). One AlterPartition is in flight at a time and
//     the ISR changes only when the controller confirms (response or
//     metadata).
//   - Produce: CheckAppend refuses acks=all while the committed ISR is below
//     min.insync.replicas (NOT_ENOUGH_REPLICAS). After the append (Appended)
//     a Produce with acks=0/1 completes at once; acks=all completes when the
//     high watermark passes its last offset, with
//     NOT_ENOUGH_REPLICAS_AFTER_APPEND if the maximal ISR is then below the
//     minimum, REQUEST_TIMED_OUT at its deadline, NOT_LEADER_OR_FOLLOWER if
//     leadership is lost first.
//   - Fetches from followers are fenced by epoch (FENCED_LEADER_EPOCH behind,
//     UNKNOWN_LEADER_EPOCH ahead or for an unknown replica), then checked
//     against the follower's last fetched epoch: a log that diverged gets the
//     leader's end of the largest common epoch (diverging epoch) and no
//     state update.
//   - Follower: one fetch in flight, answers matched by id (stale,
//     duplicated or reordered answers are dropped; a fetch unanswered for
//     FetchTimeoutMs is replaced). A diverging epoch truncates the log to the
//     end of the largest common epoch (possibly in several rounds); records
//     are appended as the leader sent them and the high watermark becomes
//     min(leader's, own log end). A diverging answer sets the high
//     watermark too (as Kafka's fetcher does), once its cut is final
//     (both logs hold the epoch it names): a restarted replica's checkpoint
//     may be far behind, and the next answer may never come.
//   - Invariants are checked after every Step and named in the error:
//     hw-le-leo, hw-ge-log-start, hw-monotonic-in-epoch (leader),
//     epochs-only-grow, isr-contains-leader, hw-within-isr and acked-on-isr
//     (every maximal-ISR member reported a position past an acknowledged
//     acks=all offset). A violation poisons the partition (ErrInvariant).
//
// Differences from Kafka, on purpose. Kafka relies on its metadata log
// being delivered in order; this state machine stays safe when decisions
// arrive late, twice or out of order (the property test does that):
//
//   - A repeat of the decision already applied keeps a pending ISR proposal
//     (Kafka's makeLeader re-commits the ISR and drops it, although the
//     controller may still apply it: the high watermark could then pass a
//     member that joined without being waited for).
//   - A leader re-elected with an epoch more than one above its own missed a
//     decision and forgets follower positions like a new leader (Kafka keeps
//     them on re-election; a follower may have truncated under the leader it
//     missed).
//
// Also: the high watermark in a fetch answer is the one before that fetch's
// update (as Kafka) but there are no delayed fetches here (the driver may
// hold an answer and re-read); the follower learns the leader's log end for
// OFFSET_OUT_OF_RANGE from the fetch answer instead of a ListOffsets round
// trip. Not modelled yet: eligible
// leader replicas (KIP-966) beyond the optional hold of the high watermark
// under min ISR, reassignment (adding/removing replicas), tiered storage,
// the leader-recovery state of unclean elections, producer state.
//
// Concurrency: a Partition is not safe for concurrent use. Its owner (one
// partition goroutine or a per-partition lock) serialises Step, CheckAppend
// plus the leader append plus Step(Appended), Ready and Advance.
package replica
