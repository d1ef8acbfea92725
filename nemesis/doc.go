// Package nemesis injects faults into a cluster: faults are values, picked
// by name from one registry, and a run's faults are a Schedule that prints
// and parses back, so a failing run replays (and shrinks) from its text.
//
// # Contract
//
//   - The package defines the interfaces it needs — Processes, Network,
//     Topology — and the harness implements them with thin adapters over its
//     cluster drivers (harness/cluster.Network satisfies Network as is). It
//     never imports the harness.
//   - A Fault says whether it can run against an Env (Available, an error
//     wrapping ErrUnavailable with the reason), and Inject returns the heal
//     that undoes it. Registered: kill, stop, pause, restart (rolling, every
//     node by default), partition-node, partition-leader,
//     partition-controller, partition-halves, partition-ring,
//     partition-bridge, az-loss, az-cut, slow, lossy, clock-skew,
//     lost-unsynced.
//   - slow, lossy, clock-skew and lost-unsynced need optional abilities
//     (Links, Clocks, UnsyncedLoss): from the Env fields, else from
//     Env.Processes when the driver passed there implements them, so a
//     driver brings them without any adapter. Their amounts (delay,
//     jitter, rate cap; loss share; clock offset) are drawn from
//     Target.Seed, which Run takes from the step's own source: a replay
//     applies the same amounts (SlowAmounts, LossPercent, SkewOffset).
//     lost-unsynced kills every target at once (all nodes by default) and
//     starts them together on heal; it is available only where a kill
//     loses unsynced writes (the reference broker with
//     highwater.fault.page.cache=true).
//   - Membership changes (removing a node for good, adding one with a new
//     node.id) are not faults here: the clusters run a static
//     controller.quorum.voters quorum, which cannot change membership. The
//     rolling restart (restart, every node in turn) is the membership-like
//     fault.
//   - A Step's Select names its target (see Resolve for the selectors);
//     it is resolved when the step runs, against the live topology, with
//     Env.Rand, so the same seed and topology pick the same nodes. Partition
//     shapes are pure functions (IsolateCuts, RingCuts, BridgeCuts).
//   - Generate builds a seeded schedule of faults and quiet periods whose
//     every fault heals before the given total; String/Parse round-trip it
//     exactly; Compact is the one-line form for replay commands; Shrinks
//     lists smaller variants to replay a failure with less. Runnable and
//     Unavailable say up front which faults an Env cannot run, and why.
//   - Run executes a schedule in real time, records each fault window
//     (start before injecting, stop after healing) through a Recorder —
//     *history.Writer is one — and always heals before it returns, even
//     when its context is cancelled; at the end it also heals every link,
//     and, when the schedule has link or clock faults, restores every
//     node's links and clock. Steps do not overlap: one fault at a
//     time. Steps whose fault is unavailable or whose target does not
//     resolve are logged and skipped, not recorded. Each step draws its
//     targets from its own source (seed and step time), so a shrunk
//     schedule's remaining steps pick the same nodes.
//
// # Goroutines
//
// Run executes in its caller's goroutine and leaves none behind; process
// faults act on all their target nodes concurrently (a killed majority must
// come back at once) and wait for every one. The registry is safe for
// concurrent use; Register is meant for init. Faults are stateless values;
// the heal closures they return are used by one goroutine.
//
// Run is a driver and uses the wall clock; everything else here (shapes,
// selection given a Rand, Generate, Parse) is deterministic and pure.
//
// This is library code: it never imports testing.
package nemesis
