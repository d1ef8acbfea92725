// Package faultclient is the harness's client of the reference broker's
// fault endpoints on its metrics listener, shared by the drivers that run
// the reference broker (harness/reference as processes, harness/container
// in containers). Today that is the clock seam: PUT, GET and DELETE
// /fault/clock, answered with {"offset_ms":N}, served when the broker
// runs with highwater.fault.endpoints=true.
//
// Contract: a Clock remembers whether the seam answered when its cluster
// came up (Probe, or SetUnavailable for brokers without it), so
// Available reports an error wrapping cluster.ErrUnavailable up front
// instead of failing mid-run; Skew and Reset name the node in their
// errors. Which nodes run is the driver's business: Reset is only asked
// for running nodes.
//
// Goroutines: none. A Clock is safe for concurrent use.
//
// This is library code: it never imports testing.
package faultclient
