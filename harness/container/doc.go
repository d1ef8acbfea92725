// Package container drives a reference-broker cluster in containers
// through testcontainers-go (any engine serving the Docker API; podman
// here, scripts/podman-setup.sh) behind the harness/cluster interfaces.
//
// Contract:
//   - New builds the reference broker into an image FROM scratch once
//     (deploy/container/Dockerfile, a static ./cmd/highwater; or runs
//     Config.Image), creates a user-defined bridge network with a fixed
//     /24 and starts Config.Nodes (default 3) containers on it, each with
//     its own hostname (node-<id>) and address (.10+id). Every node runs
//     combined mode (process.roles=broker,controller) with a static
//     controller.quorum.voters of the nodes' addresses, racks cycled from
//     Config.Racks (az-a, az-b, az-c), default.replication.factor
//     min(3,N), min.insync.replicas min(2,N); Config.Set and NodeSet
//     override any property. New returns once a node's Metadata lists
//     every node and names a controller (ErrNotReady otherwise); on
//     failure it removes everything it made.
//   - Addresses: the reference broker has one PLAINTEXT listener (plus the
//     controller listener): no listener.security.protocol.map, no
//     inter.broker.listener.name, and replica fetchers dial the leader's
//     advertised address. So a node cannot advertise 127.0.0.1:<published
//     port> to clients and its container address to peers. Each node
//     advertises its own container address instead, which the harness
//     reaches directly (rootful engine on this host: the bridge is routed
//     from the host) and peers reach over the bridge. The client port is
//     also published on a random port of 127.0.0.1 only (testcontainers
//     publishes exposed ports; unbound they would face every address).
//   - Config.HostNetwork is the fallback for engines whose bridge the
//     harness cannot reach (rootless, VM-backed): every container runs in
//     the host's network namespace, each node on its own 127.0.0.1 ports
//     (client, controller, metrics; Config.BasePort or picked free up
//     front), advertised as such; Network and lossy links are unavailable
//     there (ErrUnavailable with the reason).
//   - Data survives Stop/Kill/Restart: each node's Dir/node-<id>/data is
//     bind-mounted at /data and the container is stopped and started, not
//     recreated. Stop is the engine's stop (SIGTERM, SIGKILL after
//     Config.StopTimeout); Kill is SIGKILL; Pause/Resume are the engine's
//     pause (cgroup freezer). Start/Restart return once the node lists
//     itself as a live broker. Logs is Dir/node-<id>/server.log, the
//     container's whole log, saved on Stop, Kill and Close.
//   - Leaders keeps the highest leader epoch across the nodes' Metadata;
//     ActiveController is the controller id most answering nodes name
//     (the reference broker reports its quorum leader there).
//   - Network (root, nsenter and nft on the host): a cut writes an
//     nftables table into both containers' network namespaces (entered
//     from the host: the image has no tools) that drops every packet to
//     and from the peer's address; the harness's traffic from the host is
//     not cut. The cut state is the driver's and is written again into a
//     container that starts (a new run has a new namespace), after its
//     start and before Start returns. Links: lossy is real packet loss in
//     the node's namespace (clients' traffic included); slow is
//     unavailable (nftables cannot delay). Clocks: the broker's
//     /fault/clock seam on each node's metrics listener (probed once after
//     New). UnsyncedLoss: available when Set has
//     highwater.fault.page.cache=true. A node that is cut off from a
//     quorum cannot finish Start/Restart (it never registers): heal first.
//   - Close kills and removes every container (saving logs), the network
//     and the image it built; everything it creates carries the label
//     LabelKey=RunID. Node data under Dir stays. Without Ryuk (no
//     registry: TESTCONTAINERS_RYUK_DISABLED=true) nothing reaps a killed
//     harness's containers; RemoveLeftovers(ctx, runID) does, by label
//     (every cluster's when runID is empty).
//
// Goroutines: New and Close fan out one short-lived goroutine per node,
// queries one per node; none outlives its call. Methods are safe for
// concurrent use; container operations on one node are serialised.
//
// This is library code: it never imports testing.
package container
