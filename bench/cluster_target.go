package bench

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/highwater-io/highwater/harness/cluster"
	"github.com/highwater-io/highwater/harness/kafka"
	"github.com/highwater-io/highwater/harness/reference"
)

// ClusterTarget starts a fresh local multi-node cluster for every run: the
// replicated reference cluster (harness/reference) or an Apache Kafka KRaft
// cluster (harness/kafka), one node per rack, combined broker+controller
// roles. Its resource figures sum every node process.
type ClusterTarget struct {
	// Impl is "reference" or "kafka".
	Impl  string
	Nodes int
	// Binary is the highwater executable for the reference cluster.
	Binary string
	// WorkDir holds the per-run cluster directories; os.TempDir() when empty.
	WorkDir string
	// KafkaHeapMB is each Kafka node's heap; harness/kafka's default when 0.
	KafkaHeapMB int
	// Set overrides broker properties on every node.
	Set map[string]string
}

// Name implements Target: "reference-3", "kafka-3".
func (t ClusterTarget) Name() string { return fmt.Sprintf("%s-%d", t.Impl, t.Nodes) }

// Start implements Target.
func (t ClusterTarget) Start(ctx context.Context) (Instance, error) {
	dir, err := os.MkdirTemp(t.WorkDir, "bench-"+t.Name()+"-")
	if err != nil {
		return nil, fmt.Errorf("bench: %s dir: %w", t.Name(), err)
	}
	var c cluster.Cluster
	switch t.Impl {
	case "reference":
		set := map[string]string{"highwater.fault.endpoints": "false"} // measured as users run it
		maps.Copy(set, t.Set)
		c, err = reference.New(ctx, reference.Config{Nodes: t.Nodes, Binary: t.Binary, Dir: dir, Set: set})
	case "kafka":
		cfg := kafka.DefaultConfig(dir)
		cfg.Nodes, cfg.Set = t.Nodes, t.Set
		if t.KafkaHeapMB > 0 {
			cfg.HeapMB = t.KafkaHeapMB
		}
		c, err = kafka.New(ctx, cfg)
	default:
		err = fmt.Errorf("unknown cluster implementation %q (want reference or kafka)", t.Impl)
	}
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("bench: start %s: %w", t.Name(), err)
	}
	return &clusterInstance{c: c, dir: dir, nodes: t.Nodes}, nil
}

type clusterInstance struct {
	c     cluster.Cluster
	dir   string
	nodes int
}

func (ci *clusterInstance) Bootstrap() string { return ci.c.Bootstrap() }
func (ci *clusterInstance) NodeCount() int    { return ci.nodes }

// PID is the first node's process; PIDs has them all.
func (ci *clusterInstance) PID() int {
	if p := ci.PIDs(); len(p) > 0 {
		return p[0]
	}
	return 0
}

// PIDs finds the node processes by their command lines, which name a file
// under the cluster's own directory (a config or a data dir): the drivers
// keep process handles private, and this works for both.
func (ci *clusterInstance) PIDs() []int { return pidsMentioning("/proc", ci.dir) }

func (ci *clusterInstance) Stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err := ci.c.Close(ctx)
	if rmErr := os.RemoveAll(ci.dir); err == nil {
		err = rmErr
	}
	return err
}

// pidsMentioning lists processes whose command line contains needle,
// outermost first (a process whose parent also matches is left out, so a
// wrapper and its child are not counted twice: ReadProcStatsOf walks
// descendants itself).
func pidsMentioning(procRoot, needle string) []int {
	entries, err := os.ReadDir(procRoot)
	if err != nil {
		return nil
	}
	match := map[int]int{} // pid → ppid
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join(procRoot, e.Name(), "cmdline"))
		if err != nil || !bytes.Contains(cmdline, []byte(needle)) {
			continue
		}
		stat, err := os.ReadFile(filepath.Join(procRoot, e.Name(), "stat"))
		if err != nil {
			continue
		}
		if f := statFields(stat); len(f) > 1 {
			ppid, _ := strconv.Atoi(f[1])
			match[pid] = ppid
		}
	}
	var out []int
	for pid, ppid := range match {
		if _, parentMatches := match[ppid]; !parentMatches {
			out = append(out, pid)
		}
	}
	slices.Sort(out)
	return out
}

// instancePIDs is every local process of inst: all nodes of a cluster, the
// one process of a single-broker target, none for an address.
func instancePIDs(inst Instance) []int {
	if m, ok := inst.(interface{ PIDs() []int }); ok {
		return m.PIDs()
	}
	if pid := inst.PID(); pid > 0 {
		return []int{pid}
	}
	return nil
}

// ReadProcStatsOf sums ReadProcStats over several process trees (the nodes
// of a local cluster). PeakRSSBytes is then the sum of each node's peak.
func ReadProcStatsOf(procRoot string, pids []int) (ProcStats, error) {
	if len(pids) == 0 {
		return ProcStats{}, fmt.Errorf("%w: no processes", ErrNoProc)
	}
	var sum ProcStats
	for _, pid := range pids {
		st, err := ReadProcStats(procRoot, pid)
		if err != nil {
			return ProcStats{}, err
		}
		sum.PeakRSSBytes += st.PeakRSSBytes
		sum.CPUSeconds += st.CPUSeconds
		sum.Processes += st.Processes
		if st.WriteBytes < 0 || sum.WriteBytes < 0 {
			sum.WriteBytes = -1
		} else {
			sum.WriteBytes += st.WriteBytes
		}
	}
	return sum, nil
}

// effectiveRF caps the workload's replication factor at the instance's
// node count when it knows it (a single broker cannot hold RF 3), and
// fills a zero RF with min(3, nodes) — Kafka's usual production choice.
func effectiveRF(w Workload, inst Instance) int16 {
	n, ok := inst.(interface{ NodeCount() int })
	if !ok {
		if w.ReplicationFactor <= 0 {
			return 1
		}
		return w.ReplicationFactor
	}
	nodes := int16(n.NodeCount())
	rf := w.ReplicationFactor
	if rf <= 0 {
		rf = min(3, nodes)
	}
	return min(rf, nodes)
}

// seedList splits a comma-separated bootstrap string into seed addresses.
func seedList(bootstrap string) []string {
	var out []string
	for s := range strings.SplitSeq(bootstrap, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
