// Package bench measures producer and consumer throughput and latency of any
// Kafka-protocol broker through franz-go, and runs the same load side by side
// against several targets (the highwater reference broker, franz-go's kfake,
// Apache Kafka, or a bootstrap address), with each target's resource use.
//
// Contract:
//   - Produce runs a Workload against a bootstrap address: closed loop (as
//     fast as the client's buffer allows) or open loop at a fixed rate. In the
//     open loop every record's latency runs from its intended send time on a
//     fixed schedule, not from when the client got round to sending it, so a
//     stalled broker shows as latency instead of silently lowering the offered
//     load (coordinated omission). Records sent during the warm-up are left
//     out of the latency histogram, and acknowledgements during the warm-up
//     are left out of the throughput.
//   - Consume reads a topic from the start until it has seen a given number
//     of records.
//   - Latencies live in HdrHistogram (microsecond resolution, three
//     significant digits); summaries print in kafka-producer-perf-test's line
//     format.
//   - Compare interleaves targets in rounds (A B C A B C ...), starting each
//     target fresh for every run so that runs do not inherit each other's
//     logs, and summarises medians, spreads (min–max) and ratios to the first
//     target. For targets that are local processes it reads peak RSS
//     (VmHWM), CPU seconds (utime+stime) and bytes written from /proc.
//
// The pure parts (Recorder, Schedule, LatencyHist, Summarise, the
// formatters) take times as arguments and do no I/O; the drivers (Produce,
// Consume, Compare, the targets) own the clock and the goroutines.
//
// Goroutines: Produce runs one goroutine per producer client and franz-go
// runs the acknowledgement callbacks; the Recorder they share is guarded by a
// mutex. Everything a call starts has ended when it returns.
//
// This is library code: it never imports testing.
package bench
