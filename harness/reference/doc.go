// Package reference drives the highwater reference broker as local
// processes behind the harness/cluster interfaces.
//
// Contract: today only a single node is supported (the replicated reference
// cluster is being built elsewhere); New with Nodes > 1 fails with
// ErrNotBuilt rather than faking a cluster out of independent brokers.
// The node's data and server.log live in Dir/node-1 and survive
// Stop/Kill/Restart. Network partitions are unavailable (no NetworkProvider
// yet). Processes are managed by internal/brokerproc (own process group,
// Pdeathsig).
//
// Goroutines: brokerproc owns one wait goroutine per running process.
//
// This is library code: it never imports testing.
package reference
