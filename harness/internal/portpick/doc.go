// Package portpick picks the TCP ports the local cluster drivers
// (harness/reference, harness/container in host-network mode,
// harness/kafka) give their nodes' listeners.
//
// Contract: Pick returns n ports, either a fixed run from a base port or
// free ones the kernel hands out; free ports are held open together
// until all are chosen, so none repeats within one call. Nothing stops
// another process from taking a free port between Pick and the node's
// bind: the drivers pick once, up front, and keep the ports across
// restarts.
//
// Goroutines: none.
//
// This is library code: it never imports testing.
package portpick
