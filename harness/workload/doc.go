// Package workload runs the queue workload against any Kafka-protocol
// cluster with franz-go and records every operation into a history as it
// happens.
//
// Contract:
//   - Producers are idempotent, acks=all clients sending unique values
//     ("p<process>-<n>") one record per operation to partitions chosen from
//     the seed. Each send is recorded invoke → ok (with the acknowledged
//     offset) | fail (only when Classify says the error is definite) | info
//     (timeouts, NOT_LEADER_OR_FOLLOWER, disconnects, anything uncertain).
//     After an info the producer is retired: its client is closed and a new
//     one starts under a new process id, as Jepsen does, so a late landing
//     of an uncertain record can never be read as a reordering of the new
//     process's sends.
//   - Assign consumers read every partition from the start by manual
//     assignment; group consumers subscribe to the topic in one group and
//     mark in Poll.Rebalanced every partition whose assignment changed since
//     their previous poll (rebalances are held until a poll is recorded, with
//     franz-go's BlockRebalanceOnPoll, so the attribution is exact). Each
//     group poll also records the membership changes (assigned, revoked,
//     lost, with member id and generation) the client's callbacks reported
//     during it; after each poll the consumer commits what it returned
//     synchronously (autocommit is off), recorded as a commit operation with
//     the member id, generation and per-partition result. Each group
//     consumer slot restarts its client once or twice per run (seeded), the
//     new client under a new process id.
//   - Readers issue raw Fetch requests at explicit offsets and ListOffsets
//     requests to the partition's leader, carrying the newest leader epoch
//     any node reports (so a deposed leader answers FENCED_LEADER_EPOCH
//     rather than a stale log), and record the high watermark, last stable
//     offset and log start offset each answer gave. A read that got no
//     answer is recorded fail: reads have no effect.
//   - Drain reads every partition from offset 0 to its high watermark with
//     fresh clients, recorded as polls between the phases "drain" and
//     "done". It writes "done" only when every partition was read to its
//     end, so an incomplete drain leaves the checker's verdict unknown.
//   - Recover is the bounded recovery phase: it waits until every partition
//     has a leader and a recorded send to each partition succeeds.
//
// Every random choice comes from seed.Rand(Config.Seed, name) with a name
// per client, so two runs with the same seed make the same choices (the
// cluster's timing still differs).
//
// Goroutines: Run starts one goroutine per producer, consumer and reader
// and returns only after all of them have stopped and every client is
// closed. Drain and Recover start one goroutine per partition and join them
// before returning. The *history.Writer is shared by all of them (it is safe
// for concurrent use).
//
// This is library code: it never imports testing.
package workload
