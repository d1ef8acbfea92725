// Package history is the contract between the harness (recording clients and
// the nemesis), the checkers and the reports: a versioned JSONL file of
// operations and fault windows, written as it happens and re-checkable
// offline.
//
// # Format (version 1)
//
// The first line is a [Header]: the format name and version, scenario, seed,
// wall-clock start time and free-form parameters needed to replay the run.
// Every following line is one [Event]:
//
//	{"index":0,"time":1200,"process":3,"type":"invoke","f":"send","value":{...}}
//	{"index":1,"time":5400,"process":3,"type":"ok","f":"send","value":{...}}
//	{"index":2,"time":9000,"process":-1,"type":"nemesis","f":"start","value":{"window":1,"fault":"kill","description":"kill -9 node 2"}}
//
// index counts events from 0 in file order; time is nanoseconds since the
// header's start on a monotonic clock and never decreases. An operation is an
// invoke followed later by exactly one completion (ok, fail or info) from the
// same process; a process has at most one outstanding operation. fail means
// the operation certainly had no effect; info means it may or may not have
// happened (timeouts, NOT_LEADER_OR_FOLLOWER on a produce, a crashed client).
// An invoke without a completion at the end of the history is read as info.
//
// The value of an event is decoded by its f: [Send], [Poll], [Fetch],
// [ListOffsets], [Commit], [Assign], [Subscribe], [Txn] (f "txn", one
// producer transaction of the txn and eos workloads) and [Commit] again for
// f "group-offsets" (a group's committed offsets read back); a poll's
// isolation level is in [Poll].Isolation (empty means read_uncommitted, so
// histories written before it existed read the same). A group consumer's
// poll lists the membership changes its client reported during the poll in
// [Poll].Membership ([GroupEvent]: assigned, revoked or lost partitions with
// the member id and generation), and its synchronous commits are f "commit"
// operations whose [Commit] carries the member id and generation the
// request used and, per partition, the result and error; all optional, so
// older histories read the same. Nemesis events carry a
// [Fault]; phase events (type "phase", f the phase name such as "drain")
// carry an optional [Phase]. An unknown f is kept as raw JSON so newer
// writers do not break older readers of the operations they understand.
//
// # Goroutines
//
// A [Writer] is safe for concurrent use by many client goroutines: each
// event is assigned its index and time under one lock and written to the
// underlying file with one write call, so a harness crash loses nothing
// already recorded. [Load], [Read] and [Reader] are single-goroutine; the
// [History] they return is immutable by convention and safe to share among
// concurrent readers (checkers).
package history
