// Package clustertesting holds the test helpers the driver packages'
// tests share (harness/reference, harness/container): clients that fail
// the test when they cannot be made, acks=all produce and in-order
// read-back through cluster.Cluster, ISR and leader waits.
//
// Contract: this package imports testing and is for _test.go files only;
// library code must never import it. Helpers that take a testing.TB fail
// the test (t.Fatal) on errors; the wait helpers return errors so each
// test keeps its own assertion and message. Every wait is bounded by the
// duration it is given and by ctx.
//
// Goroutines: none beyond the franz-go clients', which each helper closes
// before it returns.
package clustertesting
