// Package bench measures producer and consumer throughput and latency of any
// Kafka-protocol broker through franz-go, and runs the same load side by side
// against several targets (the highwater reference broker, franz-go's kfake,
// Apache Kafka, or a bootstrap address), with each target's resource use.
//
// Contract:
//
//   - Produce runs a Workload against a bootstrap address: closed loop (as
//     fast as the client's buffer allows) or open loop at a fixed rate. In the
//     open loop every record's latency runs from its intended send time on a
//     fixed schedule, not from when the client got round to sending it, so a
//     stalled broker shows as latency instead of silently lowering the offered
//     load (coordinated omission). Records sent during the warm-up are left
//     out of the latency histogram, and acknowledgements during the warm-up
//     are left out of the throughput.
//
//   - Consume reads a topic from the start until it has seen a given number
//     of records: one client without a group, or (Workload.Consumers > 1,
//     ConsumeGroup) a consumer group whose members split the partitions.
//     A group's records are counted per partition by offset, so a record
//     re-delivered after a rebalance counts once, and its rates run from
//     the moment every partition is assigned (the join is reported apart,
//     as kafka-consumer-perf-test does).
//
//   - Latencies live in HdrHistogram (microsecond resolution, three
//     significant digits); summaries print in kafka-producer-perf-test's line
//     format.
//
//   - Compare interleaves targets in rounds (A B C A B C ...), starting each
//     target fresh for every run so that runs do not inherit each other's
//     logs, and summarises medians, spreads (min–max) and ratios to the first
//     target. For targets that are local processes it reads peak RSS
//     (VmHWM), CPU seconds (utime+stime) and bytes written from /proc.
//
//   - FindCapacity searches one target for its sustainable open-loop rate:
//     probes step the offered rate up ×StepFactor until acknowledged/offered
//     falls below MinSentRatio (0.995) or p99 passes P99Bound, then bisect.
//     It reports the rate per broker and per busy core (broker CPU seconds
//     per wall second) and converts to sizing's calibration schema
//     (CapacityResult.Calibration), written field for field without
//     importing sizing.
//
//   - Progress is shown through RunOptions: a bar (BarProgress, mpb) when
//     the caller knows it has a terminal, plain periodic lines
//     (LineProgress) otherwise.
//
// The pure parts (Recorder, Schedule, LatencyHist, CapacitySearch,
// Summarise, the formatters) take times as arguments and do no I/O; the
// drivers (Produce, Consume, Compare, FindCapacity, the targets) own the
// clock and the goroutines.
//
// Goroutines: Produce runs one goroutine per producer client plus a
// progress/stall watcher, and franz-go runs the acknowledgement callbacks;
// the Recorder they share is guarded by a mutex. A consume phase runs one
// polling goroutine per member and watches from the caller's goroutine;
// their tally is guarded by a mutex. A BarProgress run owns mpb's render
// goroutines until End. Everything a call starts has ended when it
// returns.
//
// This is library code: it never imports testing.
package bench
