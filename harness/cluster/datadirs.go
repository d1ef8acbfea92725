package cluster

// DataDirs is implemented by drivers whose nodes keep their partition logs
// in a directory the harness can read once the nodes have stopped (Kafka's
// on-disk layout: <dir>/<topic>-<partition>/<base offset>.log). The harness
// compares the replicas' logs offline after a run; drivers without one
// (kfake, containers without bind mounts, an external bootstrap address)
// simply do not implement it.
type DataDirs interface {
	// DataDir is node id's log directory (its first log.dirs entry), or
	// "" for an id that is not a node of the cluster.
	DataDir(id int32) string
}
