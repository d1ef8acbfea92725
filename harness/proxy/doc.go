// Package proxy is an unprivileged, seeded TCP proxy for slow and lossy
// links: one Proxy listens on an address and forwards every connection to
// one target, degrading the bytes in both directions as its Faults say.
// The harness puts one in front of each broker link it wants to degrade
// (client listeners advertised through proxies, inter-broker addresses
// pointed at them), without root.
//
// Using it for a cluster's client traffic: clients bootstrap through the
// proxies, and every node's advertised listener must name its proxy, or
// clients follow Metadata straight to the node. A driver that writes the
// broker's properties can do that (harness/reference does, per node); a
// cluster the harness only knows by bootstrap address cannot be remapped
// without rewriting Metadata answers, which this package does not do, so
// link faults are unavailable there. Inter-broker links go through proxies
// only where the broker dials addresses the harness chooses (the
// reference broker's controller.quorum.voters, per node; its replica
// fetchers use the leaders' advertised addresses, so they share the
// leader's client proxy).
//
// Contract:
//   - Faults apply to existing and new connections from the moment
//     SetFaults returns (a chunk already queued keeps the delay it was
//     given). The zero Faults forward unchanged.
//   - Delay and Jitter: each chunk read from one side is written to the
//     other no earlier than delay ± jitter (uniform) after it was read,
//     and never before the chunk read before it, so the byte stream keeps
//     its order. RateBytesPerSecond paces each direction of each
//     connection.
//   - Drop: a TCP proxy cannot drop packets (the kernel retransmits
//     whatever TCP lost; the proxy only sees an ordered byte stream). So
//     "loss" is emulated at the connection level: for each chunk, with
//     probability DropPercent, the connection is either closed at once
//     (both sides see a reset or EOF, in-flight requests fail) or stalled
//     for StallFor (nothing moves in that direction, as after a burst of
//     lost packets), half the time each; a direction's first chunk is
//     only ever stalled (clients take an EOF right after their first
//     request for a refused handshake and stop retrying). Refuse closes every connection
//     and accepts none (a cut that the peer notices at once, unlike a
//     silent packet drop). For real packet loss use harness/netns (root).
//   - Blackhole is a silent partition: nothing is forwarded or closed;
//     new connections are accepted but not dialled through; everything
//     resumes when lifted (as TCP does after a short partition).
//   - Config.Identify names a connection from its client's first read
//     (the reference driver reads the Kafka request header's client id);
//     SetFaultsFor overrides the faults of one name, so one proxy in front
//     of a broker can cut one peer's replica fetches and leave clients
//     alone.
//   - Seeded: each connection draws from its own source derived from the
//     proxy's seed and the connection's accept index, so the same seed
//     and the same connection order give the same delays and drops.
//
// Goroutines: a Proxy owns one accept goroutine and, per connection, a
// reader and a writer goroutine per direction. Close stops accepting,
// closes every connection and waits for all of them. Methods are safe for
// concurrent use.
//
// This is a driver: it uses the wall clock. It is library code and never
// imports testing.
package proxy
