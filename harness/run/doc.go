// Package run drives one Jepsen-style run end to end: start a cluster
// (the reference cluster, Apache Kafka, or franz-go's in-process kfake), run
// a workload (queue, txn or eos; the history's header names it and the
// checkers follow it) and a nemesis schedule concurrently, heal everything,
// wait (bounded) for the cluster to converge, drain, record every
// replica's log of the workload topic (read offline from the nodes' data
// directories once the cluster stopped, replicas.go; skipped for drivers
// without cluster.DataDirs), check the history, and leave a run directory
// that `highwater check` can re-judge.
//
// Contract:
//   - A Scenario is cluster config + workload + faults (or an explicit
//     schedule) + bounds; with a root seed it determines the run: the
//     workload's and the nemesis's seeds derive from it by name
//     (internal/seed), and the schedule is generated from the nemesis
//     seed. Every run replays from (commit, scenario, seed).
//   - The run directory is <RunsDir>/<scenario>/<UTC time>-<seed>/ with
//     run.json (scenario, seed, commit, schedule, cluster, figures,
//     verdict, replay command), history.jsonl, nemesis.jsonl (the schedule,
//     one JSON step a line after a header), results.json, summary.txt,
//     linearizability/*.html when a partition fails, cluster/ (node data
//     and logs) and logs/ (links to each node's log).
//   - Verdict: the checkers' combined verdict, except that a run whose
//     recovery did not converge or whose drain did not complete is at best
//     Unknown (it says which). Anomalies found are never hidden.
//   - Run returns an error only when the run could not be carried out
//     (cluster did not start, run directory not writable); the Result then
//     still names the directory when one was made.
//
// Goroutines: Run runs the workload and the nemesis in two goroutines it
// joins before returning; the cluster's own goroutines end with its Close,
// which Run always calls.
//
// This is library code: it never imports testing.
package run
