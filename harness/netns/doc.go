// Package netns gives each node of a local cluster its own Linux network
// namespace and address, so faults cut or degrade real traffic between
// broker processes, whatever the broker binary (Apache Kafka JVMs, the
// reference broker).
//
// Contract:
//   - New (root only; Available says why not, with the fix) makes a Linux
//     bridge with address HostIP in a private 10.213.x.0/24 subnet, one
//     namespace per node 1..N attached to it by a veth pair, node i at
//     NodeIP(i), and an nftables bridge-family table. Exec(i) is the
//     command prefix (`ip netns exec NAME`) that runs a program inside
//     node i's namespace; it execs, so pid, process group and Pdeathsig
//     carry over.
//   - Cut/Heal/HealAll (cluster.Network) drop every IPv4 packet between two
//     nodes, both directions, with rules in the bridge's forward chain.
//     Traffic between the root namespace (the harness's clients) and a
//     node passes the bridge's input/output hooks and is never cut.
//   - Degrade makes every link of one node lossy (a seeded-free kernel
//     random drop of a percentage of its IPv4 packets, `numgen random`)
//     and/or bandwidth-policed (packets beyond a byte rate per direction
//     are dropped, `limit rate over`), in the forward, input and output
//     chains, so client traffic to that node is degraded too. Restore
//     undoes it for one node, HealAll undoes every cut and degradation.
//     Packet delay is impossible here: nftables has no delay verdict and
//     tc netem is not available in this environment; use harness/proxy
//     for latency.
//   - Close removes every namespace, link and table it made, newest
//     first. Processes inside the namespaces must be gone by then. New
//     first sweeps stale resources of dead owners: every name carries the
//     owner's pid and a per-process sequence number.
//
// Goroutines: none. Methods are safe for concurrent use; every rule change
// replaces the whole rule set in one netlink transaction.
//
// This is library code: it never imports testing.
package netns
