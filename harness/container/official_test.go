package container

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/highwater-io/highwater/harness/cluster"
	"github.com/highwater-io/highwater/harness/internal/clustertesting"
)

// bridgeNodes are k nodes placed as the driver places them on a bridge
// network 10.9.8.0/24, without an engine.
func bridgeNodes(k int, ports [3]int) []*node {
	var out []*node
	for i := range k {
		ip := netip.AddrFrom4([4]byte{10, 9, 8, byte(11 + i)})
		out = append(out, &node{id: int32(i + 1), rack: DefaultRacks[i%3], ip: ip,
			host: ip.String(), bind: "0.0.0.0", ports: ports})
	}
	return out
}

func TestKafkaEnvName(t *testing.T) {
	for _, tc := range []struct{ prop, env string }{
		{"node.id", "KAFKA_NODE_ID"},
		{"process.roles", "KAFKA_PROCESS_ROLES"},
		{"controller.quorum.voters", "KAFKA_CONTROLLER_QUORUM_VOTERS"},
		{"broker.rack", "KAFKA_BROKER_RACK"},
		{"min.insync.replicas", "KAFKA_MIN_INSYNC_REPLICAS"},
		{"offsets.topic.replication.factor", "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"},
		{"unclean.leader.election.enable", "KAFKA_UNCLEAN_LEADER_ELECTION_ENABLE"},
		{"some_prop.x", "KAFKA_SOME__PROP_X"},
		{"a-b.c", "KAFKA_A___B_C"},
	} {
		if got := kafkaEnvName(tc.prop); got != tc.env {
			t.Errorf("kafkaEnvName(%q) = %q, want %q", tc.prop, got, tc.env)
		}
	}
}

func TestKafkaEnv(t *testing.T) {
	for _, tc := range []struct {
		name    string
		nodes   int
		set     map[string]string
		nodeSet map[string]string
		want    map[string]string // env subset, node 2 (or 1 when alone)
	}{
		{name: "three nodes", nodes: 3, want: map[string]string{
			"CLUSTER_ID":                                     "CID",
			"KAFKA_HEAP_OPTS":                                "-Xms512m -Xmx512m",
			"KAFKA_NODE_ID":                                  "2",
			"KAFKA_PROCESS_ROLES":                            "broker,controller",
			"KAFKA_CONTROLLER_QUORUM_VOTERS":                 "1@10.9.8.11:9093,2@10.9.8.12:9093,3@10.9.8.13:9093",
			"KAFKA_LISTENERS":                                "PLAINTEXT://0.0.0.0:9092,CONTROLLER://0.0.0.0:9093",
			"KAFKA_ADVERTISED_LISTENERS":                     "PLAINTEXT://10.9.8.12:9092",
			"KAFKA_CONTROLLER_LISTENER_NAMES":                "CONTROLLER",
			"KAFKA_LISTENER_SECURITY_PROTOCOL_MAP":           "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
			"KAFKA_INTER_BROKER_LISTENER_NAME":               "PLAINTEXT",
			"KAFKA_BROKER_RACK":                              "az-b",
			"KAFKA_LOG_DIRS":                                 kafkaDataDir,
			"KAFKA_MIN_INSYNC_REPLICAS":                      "2",
			"KAFKA_DEFAULT_REPLICATION_FACTOR":               "3",
			"KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR":         "3",
			"KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "3",
			"KAFKA_TRANSACTION_STATE_LOG_MIN_ISR":            "2",
		}},
		{name: "one node", nodes: 1, want: map[string]string{
			"KAFKA_NODE_ID":                          "1",
			"KAFKA_CONTROLLER_QUORUM_VOTERS":         "1@10.9.8.11:9093",
			"KAFKA_MIN_INSYNC_REPLICAS":              "1",
			"KAFKA_DEFAULT_REPLICATION_FACTOR":       "1",
			"KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "1",
			"KAFKA_TRANSACTION_STATE_LOG_MIN_ISR":    "1",
		}},
		{name: "unsafe settings, node override", nodes: 3,
			set:     map[string]string{"unclean.leader.election.enable": "true", "min.insync.replicas": "1"},
			nodeSet: map[string]string{"broker.rack": "az-z"},
			want: map[string]string{
				"KAFKA_UNCLEAN_LEADER_ELECTION_ENABLE": "true",
				"KAFKA_MIN_INSYNC_REPLICAS":            "1",
				"KAFKA_BROKER_RACK":                    "az-z",
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nodes := bridgeNodes(tc.nodes, [3]int{clientPort, controllerPort, metricsPort})
			n := nodes[min(1, len(nodes)-1)]
			env, err := kafkaEnv(kafkaProperties(n, nodes, tc.set, tc.nodeSet), "CID", 512)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tc.want {
				if env[k] != v {
					t.Errorf("%s = %q, want %q", k, env[k], v)
				}
			}
			for k := range env {
				if k != "CLUSTER_ID" && !strings.HasPrefix(k, "KAFKA_") {
					t.Errorf("variable %s outside the image's convention", k)
				}
			}
		})
	}
	if _, err := kafkaEnv(map[string]string{"heap.opts": "x"}, "CID", 512); err == nil {
		t.Error("a property mapping onto KAFKA_HEAP_OPTS was accepted")
	}
}

func TestRedpandaCommand(t *testing.T) {
	nodes := bridgeNodes(3, [3]int{clientPort, redpandaRPCPort, redpandaAdminPort})
	args := redpandaCommand(nodes[2], nodes, "1G", map[string]string{"redpanda.default_topic_replications": "1"},
		map[string]string{"redpanda.rack": "az-q"})
	line := strings.Join(args, " ")
	for _, want := range []string{
		"redpanda start ",
		"--node-id 3 ",
		"--seeds 10.9.8.11:33145,10.9.8.12:33145,10.9.8.13:33145 ",
		"--kafka-addr PLAINTEXT://0.0.0.0:9092 ",
		"--advertise-kafka-addr PLAINTEXT://10.9.8.13:9092 ",
		"--rpc-addr 0.0.0.0:33145 ",
		"--advertise-rpc-addr 10.9.8.13:33145 ",
		"--smp 1 --memory 1G ",
		"--overprovisioned ",
		"--set redpanda.default_topic_replications=1",
		"--set redpanda.rack=az-q",
		"--set redpanda.enable_rack_awareness=true",
	} {
		if !strings.Contains(line+" ", want) {
			t.Errorf("command lacks %q:\n%s", want, line)
		}
	}
	if !slices.Equal(args[:2], []string{"redpanda", "start"}) {
		t.Errorf("command starts %q", args[:2])
	}
}

func TestResolveImage(t *testing.T) {
	t.Setenv(EnvKafkaImage, "")
	t.Setenv(EnvRedpandaImage, "")
	if got := ResolveImage(FlavorKafka, ""); got != DefaultKafkaImage {
		t.Errorf("kafka default = %q", got)
	}
	if got := ResolveImage(FlavorRedpanda, ""); got != DefaultRedpandaImage {
		t.Errorf("redpanda default = %q", got)
	}
	t.Setenv(EnvKafkaImage, "localhost/my-kafka:dev")
	t.Setenv(EnvRedpandaImage, "localhost/my-rp:dev")
	if got := ResolveImage(FlavorKafka, ""); got != "localhost/my-kafka:dev" {
		t.Errorf("kafka from env = %q", got)
	}
	if got := ResolveImage(FlavorRedpanda, ""); got != "localhost/my-rp:dev" {
		t.Errorf("redpanda from env = %q", got)
	}
	if got := ResolveImage(FlavorKafka, " cfg:1 "); got != "cfg:1" {
		t.Errorf("config field = %q (it wins over the environment)", got)
	}
}

func TestOfficialConfigDefaults(t *testing.T) {
	t.Setenv(EnvKafkaImage, "")
	if _, err := (OfficialConfig{Config: Config{Dir: t.TempDir()}}).withDefaults(); !errors.Is(err, ErrUnknownFlavor) {
		t.Errorf("no flavor: %v", err)
	}
	if _, err := (OfficialConfig{Flavor: FlavorRedpanda, Config: Config{Dir: t.TempDir(), HostNetwork: true}}).withDefaults(); err == nil {
		t.Error("Redpanda with HostNetwork accepted")
	}
	if _, err := (OfficialConfig{Flavor: FlavorKafka}).withDefaults(); err == nil {
		t.Error("no Dir accepted")
	}
	cfg, err := (OfficialConfig{Flavor: FlavorKafka, Config: Config{Dir: t.TempDir()}}).withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Nodes != 3 || cfg.Image != DefaultKafkaImage || cfg.PullTimeout != DefaultPullTimeout ||
		cfg.ReadyTimeout != defaultOfficialReady || cfg.KafkaHeapMB != defaultKafkaHeapMB || cfg.RedpandaMemory != "1G" {
		t.Errorf("defaults: %+v", cfg)
	}
	if cfg.PullTimeout > 20*time.Second {
		t.Errorf("pull timeout %v > 20 s", cfg.PullTimeout)
	}
}

func TestUnavailableMessage(t *testing.T) {
	for _, tc := range []struct {
		image, cause string
		want         []string
	}{
		{DefaultKafkaImage, `initializing source docker://apache/kafka:4.1.1: pinging container registry registry-1.docker.io: dial tcp: lookup registry-1.docker.io: no such host`,
			[]string{"pull docker.io/apache/kafka:4.1.1: registry unreachable", "podman load", EnvKafkaImage}},
		{DefaultRedpandaImage, context.DeadlineExceeded.Error(),
			[]string{"pull " + DefaultRedpandaImage, "registry unreachable (no pull within 20s)", EnvRedpandaImage}},
		{"docker.io/apache/kafka:9.9.9", "manifest unknown", []string{"no such image in the registry", EnvKafkaImage}},
	} {
		err := unavailable(tc.image, 20*time.Second, errors.New(tc.cause))
		if !errors.Is(err, ErrImageUnavailable) {
			t.Errorf("%v does not wrap ErrImageUnavailable", err)
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("message lacks %q: %v", w, err)
			}
		}
	}
}

// absentImage is an image no registry has and no engine stores.
const absentImage = "docker.io/apache/kafka:0.0.0-highwater-absent"

func TestImagePreflightFailsFast(t *testing.T) {
	requireEngine(t)
	ctx := context.Background()
	began := time.Now()
	err := ImagePresentOrPullable(ctx, absentImage)
	took := time.Since(began)
	if !errors.Is(err, ErrImageUnavailable) {
		t.Fatalf("pre-flight of %s = %v, want ErrImageUnavailable", absentImage, err)
	}
	if took > DefaultPullTimeout+5*time.Second {
		t.Errorf("pre-flight took %v", took)
	}
	t.Logf("in %v: %v", took, err)
	if ok, err := ImagePresent(ctx, absentImage); ok || err != nil {
		t.Errorf("ImagePresent(%s) = %v, %v", absentImage, ok, err)
	}
}

func TestNewOfficialFailsFastWithoutImage(t *testing.T) {
	requireEngine(t)
	for _, f := range []Flavor{FlavorKafka, FlavorRedpanda} {
		began := time.Now()
		c, err := NewOfficial(context.Background(), OfficialConfig{Flavor: f, PullTimeout: 5 * time.Second,
			Config: Config{Dir: t.TempDir(), Image: absentImage}})
		if err == nil {
			_ = c.Close(context.Background())
			t.Fatalf("%s: NewOfficial with %s succeeded", f, absentImage)
		}
		if !errors.Is(err, ErrImageUnavailable) || !strings.Contains(err.Error(), absentImage) {
			t.Errorf("%s: %v", f, err)
		}
		if took := time.Since(began); took > 15*time.Second {
			t.Errorf("%s: failed after %v", f, took)
		}
	}
}

// requireImage skips unless the engine stores image: no registry is
// reachable from every machine this runs on, so the official-image
// clusters run only where the image was pre-loaded.
func requireImage(t *testing.T, f Flavor) string {
	t.Helper()
	requireEngine(t)
	image := ResolveImage(f, "")
	ok, err := ImagePresent(context.Background(), image)
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		t.Skipf("image %s is not in the engine's local store and no registry is assumed here; pre-load it (`podman load`) or set %s to a local image to run this test", image, f.envVar())
	}
	return image
}

func TestOfficialKafkaCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three Kafka containers")
	}
	requireImage(t, FlavorKafka)
	testOfficialCluster(t, FlavorKafka)
}

func TestOfficialRedpandaCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three Redpanda containers")
	}
	requireImage(t, FlavorRedpanda)
	testOfficialCluster(t, FlavorRedpanda)
}

// testOfficialCluster: three nodes come up, acks=all writes survive a
// leader kill and restart, pause moves the controller, the unavailable
// abilities say so, and Close removes everything.
func testOfficialCluster(t *testing.T, f Flavor) {
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	began := time.Now()
	o, err := NewOfficial(ctx, OfficialConfig{Flavor: f, Config: Config{Dir: t.TempDir()}})
	if err != nil {
		t.Fatal(err)
	}
	runID := o.RunID()
	defer func() {
		if err := o.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
		checkGone(t, runID)
	}()
	t.Logf("%s: 3 nodes ready in %v at %s", o.Image(), time.Since(began), o.Bootstrap())
	c := o.Cluster
	adm := clustertesting.Admin(t, o)
	defer adm.Close()
	const topic = "t"
	clustertesting.CreateTopic(ctx, t, adm, topic, 1, 60*time.Second)
	want := clustertesting.Produce(ctx, t, c, topic, 50, "a")
	tp := cluster.TopicPartition{Topic: topic}
	old := clustertesting.LeaderOf(ctx, t, c, tp)
	if err := o.Kill(ctx, old); err != nil {
		t.Fatal(err)
	}
	waitNewLeader(ctx, t, c, tp, old)
	want = append(want, clustertesting.Produce(ctx, t, c, topic, 20, "b")...)
	if err := o.Start(ctx, old); err != nil {
		t.Fatal(err)
	}
	clustertesting.ConsumeExpect(ctx, t, c, topic, want)

	ctrl, err := o.ActiveController(ctx)
	if err != nil {
		t.Fatalf("ActiveController: %v", err)
	}
	if err := o.Restart(ctx, ctrl); err != nil {
		t.Fatal(err)
	}
	want = append(want, clustertesting.Produce(ctx, t, c, topic, 10, "c")...)
	clustertesting.ConsumeExpect(ctx, t, c, topic, want)
	for what, err := range map[string]error{
		"clocks":   o.ClocksAvailable(),
		"unsynced": o.UnsyncedLossAvailable(),
		"slow":     o.LinksAvailable(cluster.LinkSlow),
	} {
		if !errors.Is(err, cluster.ErrUnavailable) {
			t.Errorf("%s: %v, want ErrUnavailable", what, err)
		}
	}
	if got := len(o.PIDs(ctx)); got != 3 {
		t.Errorf("PIDs: %d running containers", got)
	}
	t.Logf("%s cluster passed in %v", f, time.Since(began))
}

func TestHarnessDataDirs(t *testing.T) {
	nodes := bridgeNodes(3, [3]int{clientPort, controllerPort, metricsPort})
	for _, n := range nodes {
		n.dir = fmt.Sprintf("/x/node-%d", n.id)
	}
	k := (&OfficialCluster{Cluster: &Cluster{nodes: nodes}, flavor: FlavorKafka}).Harness()
	dd, ok := k.(cluster.DataDirs)
	if !ok {
		t.Fatal("a Kafka cluster offers no data directories")
	}
	if got := dd.DataDir(2); got != "/x/node-2/data" {
		t.Errorf("DataDir(2) = %q", got)
	}
	if got := dd.DataDir(9); got != "" {
		t.Errorf("DataDir(9) = %q", got)
	}
	if _, ok := k.(cluster.NetworkProvider); !ok {
		t.Error("the harness view lost NetworkProvider")
	}
	rp := (&OfficialCluster{Cluster: &Cluster{nodes: nodes}, flavor: FlavorRedpanda}).Harness()
	if _, ok := rp.(cluster.DataDirs); ok {
		t.Error("a Redpanda cluster offers Kafka-layout data directories")
	}
}

// TestOfficialKafkaHostNetwork: one Kafka node in the host's network
// namespace on picked 127.0.0.1 ports (the fallback for engines whose
// bridge the harness cannot reach); runs only where the image is stored.
func TestOfficialKafkaHostNetwork(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Kafka container")
	}
	requireImage(t, FlavorKafka)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	o, err := NewOfficial(ctx, OfficialConfig{Flavor: FlavorKafka, Config: Config{Nodes: 1, Dir: t.TempDir(), HostNetwork: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := o.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
		checkGone(t, o.RunID())
	}()
	if !strings.HasPrefix(o.Bootstrap(), "127.0.0.1:") {
		t.Errorf("Bootstrap = %s", o.Bootstrap())
	}
	adm := kadm.NewClient(clustertesting.MustClient(t, kgo.SeedBrokers(o.Bootstrap())))
	defer adm.Close()
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "h"); err != nil {
		t.Fatalf("create topic: %v", err)
	}
	clustertesting.ConsumeExpect(ctx, t, o.Cluster, "h", clustertesting.Produce(ctx, t, o.Cluster, "h", 20, "h"))
	if _, err := o.Network(); !errors.Is(err, cluster.ErrUnavailable) {
		t.Errorf("Network with HostNetwork = %v", err)
	}
}
