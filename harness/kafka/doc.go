// Package kafka drives an N-node Apache Kafka 4.x KRaft cluster as local JVM
// processes, behind the harness/cluster interfaces.
//
// Contract:
//   - New formats every node's log directory with Kafka's StorageTool (one
//     shared cluster id, static quorum through controller.quorum.voters,
//     every node broker+controller), starts the JVMs and returns only when
//     Metadata lists all N brokers and DescribeQuorum names a leader, or
//     fails within Config.ReadyTimeout with an error naming the cause and
//     the fix (ErrNoJava, ErrNoKafka, ErrPortInUse, ErrExited, ErrNotReady)
//     and nothing left running.
//   - Jars come from Config.Lib, else $HIGHWATER_KAFKA_LIB, else the
//     project's conformance/java/fetch.sh (Maven, cached, a no-op when
//     already fetched).
//   - Each node lives in Config.Dir/node-<id>: server.properties,
//     log4j2.properties, data/ (kept across Stop/Kill/Restart) and
//     server.log (stdout and stderr of every run, appended).
//   - Processes run in their own process group (signals go to the group)
//     and get SIGKILL when the thread that started them dies (Pdeathsig),
//     so a crashed harness leaves no JVM behind. Close kills and waits.
//   - With Config.NetNS (root only) each node runs inside its own network
//     namespace, attached by a veth pair to a bridge the cluster creates,
//     with an address in a private 10.213.x.0/24 subnet (harness/netns,
//     shared with the reference driver); Network().Cut drops packets
//     between two nodes with an nftables bridge-family rule in the root
//     namespace. Clients in the root namespace reach every node through
//     the bridge and are never cut. Close removes every namespace, link and
//     table it made; New first sweeps stale ones left by dead processes
//     (names carry the owner's pid).
//
// Goroutines: each running JVM has one goroutine, owned by its node, that
// waits for the exit. Cluster methods are safe for concurrent use; faults on
// one node are serialized.
//
// This is library code: it never imports testing.
package kafka
