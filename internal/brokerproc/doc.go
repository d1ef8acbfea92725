// Package brokerproc builds the highwater binary and runs highwater broker
// processes for tests and for the chaos harness.
//
// Contract:
//   - Build compiles ./cmd/highwater once into a directory the caller owns.
//   - Start writes DataDir/server.properties (the caller's Properties plus
//     node.id, listeners, advertised.listeners and log.dirs unless given),
//     starts `highwater broker --config DataDir/server.properties` and
//     returns only when the listener answers an ApiVersions request, or
//     fails with the process's last stderr lines.
//   - A Node is one broker identity (data dir + port) that can be stopped,
//     killed, paused, resumed and restarted any number of times; the port
//     stays the same across restarts so clients can reconnect.
//   - Processes never outlive their parent: each runs in its own process
//     group (signals go to the group) and, on Linux, gets SIGKILL when the
//     parent thread dies (Pdeathsig), so a crashed test run leaves no
//     brokers behind.
//
// Goroutines: each running process has one goroutine, owned by the Node,
// that waits for it to exit and records the exit status. Node methods are
// safe for concurrent use.
//
// This is library code: it never imports testing.
package brokerproc
