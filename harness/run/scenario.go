package run

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/highwater-io/highwater/harness/workload"
)

// ErrBadScenario wraps every Scenario validation failure.
var ErrBadScenario = errors.New("run: bad scenario")

// Cluster implementations.
const (
	ImplReference = "reference"
	ImplKafka     = "kafka"
	// ImplKfake is franz-go's in-process kfake: for developing workloads
	// and checkers; it has no process faults and is not Kafka.
	ImplKfake = "kfake"
	// ImplContainer is the reference cluster in containers (podman or
	// Docker through testcontainers-go; harness/container): each node in
	// its own network namespace, so partitions and lossy links cut real
	// packets when the harness runs as root.
	ImplContainer = "container"
	// ImplContainerKafka and ImplContainerRedpanda are the official Apache
	// Kafka and Redpanda images in containers (harness/container's
	// NewOfficial): the image must be stored locally or pullable, else the
	// run fails at once naming the image and the fix.
	ImplContainerKafka    = "container-kafka"
	ImplContainerRedpanda = "container-redpanda"
	// ImplAddress is a cluster someone else runs, reached at
	// ClusterConfig.Bootstrap: no process or network control.
	ImplAddress = "address"
)

// Workloads a scenario can run; the history's header names it so the
// checkers fit (checker.ForWorkload).
const (
	WorkloadQueue = "queue"
	WorkloadTxn   = "txn"
	WorkloadEOS   = "eos"
)

// FaultsAll in Scenario.Faults (alone) means every fault the cluster
// driver supports, as an empty list does: `--nemesis all`.
const FaultsAll = "all"

// ClusterConfig says what runs the nodes.
type ClusterConfig struct {
	Impl string // ImplReference | ImplKafka | ImplKfake | ImplContainer | ImplContainerKafka | ImplContainerRedpanda | ImplAddress
	// Bootstrap is the client address list of an ImplAddress cluster.
	Bootstrap string
	Nodes     int // 0: 3 (the reference cluster, Kafka), 1 for kfake
	// NetNS puts each node (Kafka, reference) in its own network
	// namespace (root), so partition faults can cut links.
	NetNS bool
	// Proxy puts the reference cluster's client and controller links
	// behind harness/proxy (unprivileged): partition, slow and lossy
	// faults without root.
	Proxy bool
	// Set passes broker properties to every node.
	Set map[string]string
	// Binary is the highwater executable for the reference broker; empty
	// means this process's own executable.
	Binary       string
	ReadyTimeout time.Duration
}

func (c ClusterConfig) nodes() int {
	if c.Nodes > 0 {
		return c.Nodes
	}
	if c.Impl == ImplKfake {
		return 1
	}
	return 3
}

// String describes the cluster in one line, for run.json and reports.
func (c ClusterConfig) String() string {
	s := fmt.Sprintf("%s, %d node(s)", c.Impl, c.nodes())
	if c.NetNS {
		s += ", network namespaces"
	}
	if c.Proxy {
		s += ", proxied links"
	}
	for _, k := range slices.Sorted(maps.Keys(c.Set)) {
		s += fmt.Sprintf(", %s=%s", k, c.Set[k])
	}
	return s
}

// Scenario is everything a run does but its seed.
type Scenario struct {
	Name    string
	Cluster ClusterConfig
	// Kind is the workload: WorkloadQueue (default), WorkloadTxn or
	// WorkloadEOS.
	Kind string
	// Workload's Bootstrap and Seed are filled in by Run; Duration is the
	// whole workload phase. For txn and eos, Producers are transactional
	// producers (eos workers) and SendRatePerSec counts transactions
	// (eos: inputs) per second.
	Workload workload.Config
	// Txn tunes the txn and eos workloads (zero: DefaultTxnOptions).
	Txn workload.TxnOptions
	// Faults names the nemesis faults to mix; empty with no Schedule means
	// every fault available for the cluster.
	Faults []string
	// Schedule, when set, is an explicit schedule (nemesis.Parse syntax)
	// used instead of generating one.
	Schedule string
	// MeanQuiet and MeanFault shape the generated schedule.
	MeanQuiet, MeanFault time.Duration
	// FaultTail is how long before the workload ends the last fault must
	// have healed, so recovery under load is recorded.
	FaultTail time.Duration
	// Bounds of the phases after the workload.
	RecoveryTimeout, DrainTimeout, CheckTimeout time.Duration
}

// Defaults fills zero fields with values sized for a 2-core machine.
func (s Scenario) Defaults() Scenario {
	if s.Cluster.Impl == "" {
		s.Cluster.Impl = ImplReference
	}
	if s.Kind == "" {
		s.Kind = WorkloadQueue
	}
	if s.Txn == (workload.TxnOptions{}) {
		s.Txn = workload.DefaultTxnOptions()
	}
	if len(s.Faults) == 1 && s.Faults[0] == FaultsAll {
		s.Faults = nil
	}
	if s.Workload.Topic == "" {
		d := workload.DefaultConfig("")
		d.Duration = s.Workload.Duration
		if d.Duration == 0 {
			d.Duration = 30 * time.Second
		}
		s.Workload = d
	}
	if s.Kind != WorkloadQueue && s.Workload.Topic == workload.DefaultConfig("").Topic {
		s.Workload.Topic = "highwater-" + s.Kind
	}
	if s.MeanQuiet == 0 {
		s.MeanQuiet = 5 * time.Second
	}
	if s.MeanFault == 0 {
		s.MeanFault = 5 * time.Second
	}
	if s.FaultTail == 0 {
		s.FaultTail = min(5*time.Second, s.Workload.Duration/5)
	}
	if s.RecoveryTimeout == 0 {
		s.RecoveryTimeout = 60 * time.Second
		if s.Cluster.Impl == ImplKafka || s.Cluster.Impl == ImplContainer || isOfficialImpl(s.Cluster.Impl) {
			s.RecoveryTimeout = 2 * time.Minute
		}
	}
	if s.DrainTimeout == 0 {
		s.DrainTimeout = 2 * time.Minute
	}
	if s.CheckTimeout == 0 {
		s.CheckTimeout = 5 * time.Minute
	}
	return s
}

// Validate reports the first problem, wrapping ErrBadScenario.
func (s Scenario) Validate() error {
	switch {
	case s.Name == "" || strings.ContainsAny(s.Name, "/\\ \t\n") || s.Name == "." || s.Name == "..":
		return fmt.Errorf("%w: name %q (a single path element without spaces)", ErrBadScenario, s.Name)
	case s.Cluster.Impl != ImplReference && s.Cluster.Impl != ImplKafka && s.Cluster.Impl != ImplKfake && s.Cluster.Impl != ImplContainer && s.Cluster.Impl != ImplAddress && !isOfficialImpl(s.Cluster.Impl):
		return fmt.Errorf("%w: cluster impl %q: want reference, kafka, kfake, container, container-kafka, container-redpanda or address", ErrBadScenario, s.Cluster.Impl)
	case (s.Cluster.Impl == ImplAddress) != (s.Cluster.Bootstrap != ""):
		return fmt.Errorf("%w: a bootstrap address goes with --impl address (and it needs one)", ErrBadScenario)
	case s.Cluster.Impl == ImplAddress && (s.Cluster.NetNS || s.Cluster.Proxy || len(s.Cluster.Set) > 0):
		return fmt.Errorf("%w: --impl address: the harness does not run that cluster (no --netns, --proxy or --set)", ErrBadScenario)
	case s.Kind != WorkloadQueue && s.Kind != WorkloadTxn && s.Kind != WorkloadEOS:
		return fmt.Errorf("%w: workload %q: want queue, txn or eos", ErrBadScenario, s.Kind)
	case s.Cluster.NetNS && (s.Cluster.Impl == ImplKfake || s.Cluster.Impl == ImplContainer || isOfficialImpl(s.Cluster.Impl)):
		return fmt.Errorf("%w: --netns is for kafka and reference (containers have their own namespaces already)", ErrBadScenario)
	case s.Cluster.Proxy && (s.Cluster.Impl != ImplReference || s.Cluster.NetNS):
		return fmt.Errorf("%w: proxied links are available for the reference cluster without network namespaces only", ErrBadScenario)
	case s.FaultTail < 0 || s.FaultTail >= s.Workload.Duration:
		return fmt.Errorf("%w: fault tail %v with a %v workload", ErrBadScenario, s.FaultTail, s.Workload.Duration)
	}
	w := s.Workload
	w.Bootstrap = "placeholder:0" // filled in when the cluster runs
	if err := w.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrBadScenario, err)
	}
	if s.Kind != WorkloadQueue {
		if err := s.Txn.Validate(); err != nil {
			return fmt.Errorf("%w: %w", ErrBadScenario, err)
		}
	}
	return nil
}

// ReplayCommand is the one-line `highwater chaos` command that repeats a
// run of s with seed (the faults listed explicitly, so a replay does not
// depend on what happens to be available).
func (s Scenario) ReplayCommand(seed int64, faults []string) string {
	args := []string{"highwater", "chaos",
		"--scenario", s.Name,
		"--workload", s.Kind,
		"--impl", s.Cluster.Impl,
		"--nodes", strconv.Itoa(s.Cluster.nodes()),
		"--seed", strconv.FormatInt(seed, 10),
		"--duration", s.Workload.Duration.String(),
		"--rate", strconv.FormatFloat(s.Workload.SendRatePerSec, 'g', -1, 64),
		"--partitions", strconv.Itoa(s.Workload.Partitions),
		"--producers", strconv.Itoa(s.Workload.Producers),
		"--assign-consumers", strconv.Itoa(s.Workload.AssignConsumers),
		"--group-consumers", strconv.Itoa(s.Workload.GroupConsumers),
		"--readers", strconv.Itoa(s.Workload.Readers),
		"--read-rate", strconv.FormatFloat(s.Workload.ReadRatePerSec, 'g', -1, 64),
		"--record-bytes", strconv.Itoa(s.Workload.RecordBytes),
	}
	if s.Workload.Acks != "" && s.Workload.Acks != "all" {
		args = append(args, "--acks", s.Workload.Acks)
	}
	if s.Workload.ReplicationFactor > 0 {
		args = append(args, "--replication-factor", strconv.Itoa(s.Workload.ReplicationFactor))
	}
	if s.Workload.MinInsyncReplicas > 0 {
		args = append(args, "--min-insync-replicas", strconv.Itoa(s.Workload.MinInsyncReplicas))
	}
	if s.Schedule == "" {
		args = append(args, "--mean-quiet", s.MeanQuiet.String(), "--mean-fault", s.MeanFault.String())
	}
	if s.Schedule != "" {
		args = append(args, "--schedule", "'"+strings.ReplaceAll(s.Schedule, "'", "")+"'")
	} else if len(faults) > 0 {
		args = append(args, "--faults", strings.Join(faults, ","))
	} else {
		args = append(args, "--faults", "none")
	}
	if s.Cluster.Bootstrap != "" {
		args = append(args, "--bootstrap", s.Cluster.Bootstrap)
	}
	if s.Cluster.NetNS {
		args = append(args, "--netns")
	}
	if s.Cluster.Proxy {
		args = append(args, "--proxy")
	}
	for _, k := range slices.Sorted(maps.Keys(s.Cluster.Set)) {
		args = append(args, "--set", k+"="+s.Cluster.Set[k])
	}
	return strings.Join(args, " ")
}

// isOfficialImpl: an official broker image in containers.
func isOfficialImpl(impl string) bool {
	return impl == ImplContainerKafka || impl == ImplContainerRedpanda
}
