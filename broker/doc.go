// Package broker is the highwater reference broker: wiring only. It turns
// Kafka-named properties into a validated configuration, opens (and
// recovers) the data directory, binds the listener and runs the connection
// server and the background loops (retention, periodic flush, group
// timers), and the optional Prometheus /metrics listener
// (highwater.metrics.listener, not a Kafka key; see internal/metrics for
// the Strimzi-compatible series names). The protocol lives in internal/handler and internal/wire, the
// storage in internal/partlog, consumer groups in internal/group.
//
// Nondeterminism enters only through Config: the filesystem, the listener,
// the clock, the random source and the logger.
package broker
