// Package reference drives the highwater reference broker as local
// processes behind the harness/cluster interfaces.
//
// Contract:
//   - New(Config{Nodes: N}) starts N `highwater broker` processes and
//     returns once every node answers and a node's Metadata lists all N
//     as unfenced brokers and names a controller (ErrNotReady otherwise,
//     within ReadyTimeout; nothing is left running on failure).
//   - N = 1 runs the broker in single-node mode. N > 1 runs cluster mode:
//     every node is a combined broker+controller (process.roles
//     broker,controller, a static controller.quorum.voters on fixed
//     ports), racks cycled from Config.Racks (az-a, az-b, az-c),
//     default.replication.factor min(3,N), min.insync.replicas min(2,N);
//     Config.Set overrides any property on every node, Config.NodeSet on
//     one node (applied after Set).
//   - Ports (client, controller, metrics per node) are picked once, up
//     front, and kept across Stop/Kill/Restart, as are the data
//     (Dir/node-<id>/data) and server.log (Dir/node-<id>/server.log).
//     Every node serves Prometheus metrics (MetricsURL).
//   - Start/Restart return once the node answers and lists itself as an
//     unfenced broker. Leaders keeps the highest leader epoch across the
//     nodes' Metadata; ActiveController is the controller id most
//     answering nodes name in Metadata (the reference broker reports its
//     quorum leader there and does not serve DescribeQuorum).
//   - With Config.NetNS (root only) every node runs in its own network
//     namespace with its own address (harness/netns; the broker binary is
//     exec'd through `ip netns exec`, so the pid, process group and
//     Pdeathsig carry over) and listens on fixed ports there; Network cuts
//     real node-to-node traffic (Raft controller traffic and replica
//     fetches) with nftables, while the harness's clients in the root
//     namespace reach every node throughout. Close removes the namespaces.
//     Without NetNS or Proxy, Network returns ErrUnavailable saying how to
//     get it.
//   - With Config.Proxy (unprivileged; not with NetNS) a harness/proxy
//     sits in front of every node's client listener, named by
//     advertised.listeners so clients and replica fetchers go through it,
//     and one per ordered node pair carries controller traffic (each
//     node's controller.quorum.voters names its own proxies). Nodes() and
//     Bootstrap give the proxied addresses. Network works here too,
//     unprivileged: a cut blackholes (silently holds) both controller
//     proxies of the pair and, on each side's client proxy, the other's
//     replica-fetch and transaction-marker connections, recognised by the
//     client id in their first request (highwater-replica-<id>,
//     highwater-txn-coordinator-<id>); the harness's clients are never
//     cut.
//   - Optional abilities (harness/cluster): Links — slow (delay ± jitter,
//     rate cap) in Proxy mode only; lossy as connection closes/stalls in
//     Proxy mode and as real packet loss (nftables, clients included) in
//     NetNS mode; elsewhere unavailable with the fix. A node's slow links
//     are its client proxy and its controller links both ways; its
//     outgoing replica fetches go through the leaders' proxies and are
//     slowed only when the leader is. Clocks — PUT/DELETE /fault/clock on
//     the metrics listener; the driver turns highwater.fault.endpoints on
//     unless Set turns it off and probes the endpoint once the cluster is
//     ready, so a broker without it is reported unavailable up front.
//     UnsyncedLoss — available when every node runs with
//     highwater.fault.page.cache=true (Set), so kill -9 loses unsynced
//     writes.
//   - Membership changes are not supported: the quorum is a static
//     controller.quorum.voters list, so a node cannot be replaced by one
//     with a new node.id; Restart keeps the id, data and addresses.
//   - Close kills every node and waits; StopAll stops them gracefully
//     first. Processes are managed by internal/brokerproc (own process
//     group, Pdeathsig), so none outlives the harness.
//
// Goroutines: brokerproc owns one wait goroutine per running process;
// queries fan out one short-lived goroutine per node. Methods are safe for
// concurrent use; process operations on one node are serialised.
//
// This is library code: it never imports testing.
package reference
