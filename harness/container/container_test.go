package container

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	tcnetwork "github.com/testcontainers/testcontainers-go/network"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/highwater-io/highwater/harness/cluster"
	"github.com/highwater-io/highwater/harness/internal/clustertesting"
)

// podmanSocket is where scripts/podman-setup.sh serves the Docker API.
const podmanSocket = "/run/podman/podman.sock"

// requireEngine skips (or, with HIGHWATER_REQUIRE_CONTAINERS=1, fails) when
// no container engine answers. With DOCKER_HOST unset it tries the podman
// socket scripts/podman-setup.sh serves, with Ryuk off (it needs a
// registry).
func requireEngine(t *testing.T) {
	t.Helper()
	if os.Getenv("DOCKER_HOST") == "" {
		if _, err := os.Stat(podmanSocket); err == nil {
			t.Setenv("DOCKER_HOST", "unix://"+podmanSocket)
			if os.Getenv("TESTCONTAINERS_RYUK_DISABLED") == "" {
				t.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
			}
		}
	}
	if err := CheckEngine(context.Background()); err != nil {
		if os.Getenv("HIGHWATER_REQUIRE_CONTAINERS") == "1" {
			t.Fatalf("HIGHWATER_REQUIRE_CONTAINERS=1: %v", err)
		}
		t.Skipf("no container engine, skipping (HIGHWATER_REQUIRE_CONTAINERS=1 makes this a failure): %v", err)
	}
}

// staticBinary builds ./cmd/highwater with CGO_ENABLED=0 for the image,
// skipping when it does not build right now (other packages mid-edit).
func staticBinary(ctx context.Context, t *testing.T) string {
	t.Helper()
	bin := t.TempDir() + "/highwater"
	if err := buildStatic(ctx, bin); err != nil {
		t.Skipf("highwater does not build right now (others' packages may be mid-edit): %v", err)
	}
	return bin
}

func TestCheckEngineFailsFast(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix://"+t.TempDir()+"/absent.sock")
	start := time.Now()
	err := CheckEngine(context.Background())
	if !errors.Is(err, ErrNoEngine) || !strings.Contains(err.Error(), "scripts/podman-setup.sh") {
		t.Fatalf("CheckEngine = %v, want ErrNoEngine naming scripts/podman-setup.sh", err)
	}
	if d := time.Since(start); d > engineProbeTimeout+time.Second {
		t.Errorf("took %v", d)
	}
	if _, err := New(context.Background(), Config{Dir: t.TempDir()}); !errors.Is(err, ErrNoEngine) {
		t.Errorf("New = %v, want ErrNoEngine", err)
	}
}

func TestConfigDefaults(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		err  string
	}{
		{"no dir", Config{}, "Dir is required"},
		{"negative nodes", Config{Dir: "x", Nodes: -1}, "-1 nodes"},
		{"nodeset out of range", Config{Dir: "x", NodeSet: map[int32]map[string]string{4: nil}}, "node 4"},
		{"ipv6 subnet", Config{Dir: "x", Subnet: netip.MustParsePrefix("fd00::/64")}, "not an IPv4 /24"},
		{"base port too high", Config{Dir: "x", BasePort: 65530}, "base port"},
		{"ok", Config{Dir: "x"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.cfg.withDefaults()
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || got.Nodes != 3 || len(got.Racks) != 3 || got.StopTimeout != 14*time.Second || got.Build.WorkDir != got.Dir {
				t.Fatalf("withDefaults = %+v, %v", got, err)
			}
		})
	}
}

// TestProperties: combined mode over the nodes' own addresses, Set then
// NodeSet override.
func TestProperties(t *testing.T) {
	c := &Cluster{cfg: Config{Set: map[string]string{"min.insync.replicas": "1", "x": "set"},
		NodeSet: map[int32]map[string]string{2: {"x": "node"}}}}
	for i := range 3 {
		ip := netip.AddrFrom4([4]byte{10, 232, 9, byte(11 + i)})
		c.nodes = append(c.nodes, &node{id: int32(i + 1), rack: DefaultRacks[i], ip: ip, host: ip.String(),
			bind: "0.0.0.0", ports: [3]int{clientPort, controllerPort, metricsPort}})
	}
	p := c.properties(c.nodes[1])
	want := map[string]string{
		"node.id":                    "2",
		"broker.rack":                "az-b",
		"process.roles":              "broker,controller",
		"controller.quorum.voters":   "1@10.232.9.11:9093,2@10.232.9.12:9093,3@10.232.9.13:9093",
		"listeners":                  "PLAINTEXT://0.0.0.0:9092,CONTROLLER://0.0.0.0:9093",
		"advertised.listeners":       "PLAINTEXT://10.232.9.12:9092",
		"controller.listener.names":  "CONTROLLER",
		"default.replication.factor": "3",
		"min.insync.replicas":        "1",
		"log.dirs":                   "/data",
		"highwater.metrics.listener": "0.0.0.0:9094",
		"x":                          "node",
	}
	for k, v := range want {
		if p[k] != v {
			t.Errorf("%s = %q, want %q", k, p[k], v)
		}
	}
	// Host-network mode: loopback listeners on each node's own ports.
	hn := &node{id: 1, host: loopback, bind: loopback, ports: [3]int{41000, 41001, 41002}}
	h := &Cluster{nodes: []*node{hn}}
	p = h.properties(hn)
	if p["listeners"] != "PLAINTEXT://127.0.0.1:41000,CONTROLLER://127.0.0.1:41001" ||
		p["advertised.listeners"] != "PLAINTEXT://127.0.0.1:41000" || p["controller.quorum.voters"] != "1@127.0.0.1:41001" ||
		p["highwater.metrics.listener"] != "127.0.0.1:41002" || p["min.insync.replicas"] != "1" {
		t.Errorf("host-network properties: %v", p)
	}
	args := command(map[string]string{"b": "2", "a": "1"})
	if got := strings.Join(args, " "); got != "--override a=1 --override b=2" {
		t.Errorf("command = %q", got)
	}
}

// TestRuleset: a node's table drops its cut peers' addresses both ways and
// the lossy share.
func TestRuleset(t *testing.T) {
	c := &Cluster{}
	for i := range 3 {
		c.nodes = append(c.nodes, &node{id: int32(i + 1), ip: netip.AddrFrom4([4]byte{10, 232, 9, byte(11 + i)})})
	}
	c.cuts.init(c)
	c.cuts.cut[pair(3, 1)] = true
	c.cuts.cut[pair(2, 3)] = true
	c.cuts.loss[3] = 20
	rs := c.cuts.ruleset(c.nodes[2])
	for _, want := range []string{
		"delete table inet highwater_faults",
		"type filter hook input priority -10",
		"ip saddr { 10.232.9.11, 10.232.9.12 } drop",
		"ip daddr { 10.232.9.11, 10.232.9.12 } drop",
		"numgen random mod 100 < 20 drop",
	} {
		if !strings.Contains(rs, want) {
			t.Errorf("ruleset lacks %q:\n%s", want, rs)
		}
	}
	rs = c.cuts.ruleset(c.nodes[0])
	if !strings.Contains(rs, "ip saddr { 10.232.9.13 } drop") || strings.Contains(rs, "numgen") {
		t.Errorf("node 1 ruleset:\n%s", rs)
	}
	if _, err := c.node(4); !errors.Is(err, cluster.ErrUnknownNode) {
		t.Errorf("node(4) = %v", err)
	}
}

const sessionTimeout = 3 * time.Second

// TestContainerCluster drives a 3-node container cluster: RF-3 acks=all
// produce, SIGKILL of the partition leader's container, a new leader,
// restart with the same data, ISR back to 3, every record read back, then
// a network cut isolating the leader (when root), pause/resume, and Close
// leaving no container or network with the cluster's label.
func TestContainerCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("builds an image and starts containers")
	}
	requireEngine(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	began := time.Now()
	c, err := New(ctx, Config{Dir: t.TempDir(), Build: BuildContext{Binary: staticBinary(ctx, t)}, Set: map[string]string{
		"broker.session.timeout.ms":    strconv.Itoa(int(sessionTimeout.Milliseconds())),
		"broker.heartbeat.interval.ms": "500",
	}})
	if err != nil {
		t.Fatal(err)
	}
	runID := c.RunID()
	defer func() {
		if err := c.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
		checkGone(t, runID)
		t.Logf("whole test %v", time.Since(began))
	}()
	t.Logf("3 nodes ready in %v at %s", time.Since(began), c.Bootstrap())
	checkNodes(t, c)

	adm := clustertesting.Admin(t, c)
	defer adm.Close()
	const topic = "t"
	clustertesting.CreateTopic(ctx, t, adm, topic, 1, 30*time.Second)
	want := clustertesting.Produce(ctx, t, c, topic, 100, "a")

	tp0 := cluster.TopicPartition{Topic: topic}
	old := clustertesting.LeaderOf(ctx, t, c, tp0)
	killed := time.Now()
	if err := c.Kill(ctx, old); err != nil {
		t.Fatal(err)
	}
	newLeader := waitNewLeader(ctx, t, c, tp0, old)
	t.Logf("node %d killed; node %d leads after %v", old, newLeader, time.Since(killed))
	want = append(want, clustertesting.Produce(ctx, t, c, topic, 20, "b")...)
	if b, err := os.ReadFile(c.Logs(old)); err != nil || len(b) == 0 {
		t.Errorf("log of killed node %d: %d bytes, %v", old, len(b), err)
	}

	if err := c.Start(ctx, old); err != nil {
		t.Fatal(err)
	}
	if err := clustertesting.WaitISR(ctx, adm, topic, 3, 30*time.Second); err != nil {
		t.Fatalf("node %d not back in the ISR: %v", old, err)
	}
	clustertesting.ConsumeExpect(ctx, t, c, topic, want)

	if nw, err := cluster.NetworkOf(c); err != nil {
		t.Logf("network cut not tried: %v", err)
	} else {
		checkIsolation(ctx, t, c, nw, adm, tp0)
	}

	// The victim is not the active controller, and the peer it is later
	// cut from is not either: a voter cut from the Raft leader hears no
	// heartbeats and (with pre-vote and check-quorum) cannot campaign, so
	// it would never learn a controller. Cut from the other follower, it
	// still reaches the leader.
	ctrl, err := c.ActiveController(ctx)
	if err != nil {
		t.Fatalf("ActiveController: %v", err)
	}
	victim, peer := ctrl%3+1, (ctrl+1)%3+1
	if err := c.Pause(ctx, victim); err != nil {
		t.Fatal(err)
	}
	if ctrl, err := c.ActiveController(ctx); err != nil || ctrl == victim {
		t.Errorf("ActiveController with node %d paused = %d, %v", victim, ctrl, err)
	}
	if err := c.Resume(ctx, victim); err != nil {
		t.Fatal(err)
	}
	// SIGKILL reaches a frozen container; Start brings it back, and a cut
	// to the other follower (the victim still reaches the controller)
	// is written again into the new run's network namespace.
	nw, nwErr := cluster.NetworkOf(c)
	if nwErr == nil {
		if err := nw.Cut(ctx, victim, peer); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Pause(ctx, victim); err != nil {
		t.Fatal(err)
	}
	if err := c.Kill(ctx, victim); err != nil {
		t.Fatalf("Kill of paused node %d: %v", victim, err)
	}
	if err := c.Start(ctx, victim); err != nil {
		t.Fatal(err)
	}
	if nwErr == nil {
		if rs := listTable(ctx, t, c, victim); !strings.Contains(rs, c.nodes[peer-1].ip.String()) {
			t.Errorf("node %d's restarted namespace lacks the cut to node %d:\n%s", victim, peer, rs)
		}
		if err := nw.HealAll(ctx); err != nil {
			t.Fatal(err)
		}
		if rs := listTable(ctx, t, c, victim); strings.Contains(rs, "drop") {
			t.Errorf("node %d still drops after HealAll:\n%s", victim, rs)
		}
	}
	// Graceful stop, then Restart of the stopped node with its data.
	if err := c.Stop(ctx, victim); err != nil {
		t.Fatal(err)
	}
	if err := c.Restart(ctx, victim); err != nil {
		t.Fatal(err)
	}
	want = append(want, clustertesting.Produce(ctx, t, c, topic, 10, "c")...)
	clustertesting.ConsumeExpect(ctx, t, c, topic, want)

	if err := c.ClocksAvailable(); err != nil {
		t.Errorf("ClocksAvailable = %v", err)
	} else if err := c.SkewClock(ctx, victim, 5*time.Second); err != nil {
		t.Errorf("SkewClock: %v", err)
	} else if err := c.ResetClock(ctx, victim); err != nil {
		t.Errorf("ResetClock: %v", err)
	}
	if err := c.LinksAvailable(cluster.LinkSlow); !errors.Is(err, cluster.ErrUnavailable) {
		t.Errorf("LinksAvailable(slow) = %v", err)
	}
	if err := c.UnsyncedLossAvailable(); !errors.Is(err, cluster.ErrUnavailable) {
		t.Errorf("UnsyncedLossAvailable without the page cache = %v", err)
	}
	if err := c.Kill(ctx, 7); !errors.Is(err, cluster.ErrUnknownNode) {
		t.Errorf("Kill(7) = %v", err)
	}
}

// checkIsolation cuts the partition leader off from both peers: a new
// leader is elected among them, the harness still reaches everyone; after
// HealAll the ISR is whole again.
func checkIsolation(ctx context.Context, t *testing.T, c *Cluster, nw cluster.Network, adm *kadm.Client, tp cluster.TopicPartition) {
	t.Helper()
	old := clustertesting.LeaderOf(ctx, t, c, tp)
	cut := time.Now()
	if err := cluster.Isolate(ctx, c, nw, old); err != nil {
		t.Fatal(err)
	}
	newLeader := waitNewLeader(ctx, t, c, tp, old)
	t.Logf("node %d isolated; node %d leads after %v", old, newLeader, time.Since(cut))
	// The harness still reaches the isolated node: only peers are cut.
	mctx, cancel := context.WithTimeout(ctx, cluster.PerNodeTimeout)
	_, err := c.directs[old-1].Metadata(mctx)
	cancel()
	if err != nil {
		t.Errorf("isolated node %d does not answer the harness: %v", old, err)
	}
	if err := nw.HealAll(ctx); err != nil {
		t.Fatal(err)
	}
	if err := clustertesting.WaitISR(ctx, adm, tp.Topic, 3, 45*time.Second); err != nil {
		t.Fatalf("after heal: %v", err)
	}
}

// listTable lists the driver's nftables table in node id's namespace.
func listTable(ctx context.Context, t *testing.T, c *Cluster, id int32) string {
	t.Helper()
	_, pid, err := c.state(ctx, c.nodes[id-1])
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(ctx, "nsenter", "-t", strconv.Itoa(pid), "-n", "nft", "list", "table", "inet", nftTable).CombinedOutput()
	if err != nil {
		t.Fatalf("list node %d's table: %v: %s", id, err, out)
	}
	return string(out)
}

func waitNewLeader(ctx context.Context, t *testing.T, c *Cluster, tp cluster.TopicPartition, old int32) int32 {
	t.Helper()
	got, err := clustertesting.NewLeader(ctx, c, tp, old, 30*time.Second)
	if err != nil {
		t.Fatalf("no new leader after losing node %d: %v", old, err)
	}
	return got
}

// checkGone lists containers and networks carrying the cluster's label.
func checkGone(t *testing.T, runID string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	api, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		t.Errorf("engine: %v", err)
		return
	}
	defer api.Close()
	f := make(client.Filters).Add("label", LabelKey+"="+runID)
	cs, err := api.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		t.Errorf("list containers: %v", err)
	} else if len(cs.Items) != 0 {
		t.Errorf("%d containers labelled %s=%s after Close", len(cs.Items), LabelKey, runID)
	}
	ns, err := api.NetworkList(ctx, client.NetworkListOptions{Filters: f})
	if err != nil {
		t.Errorf("list networks: %v", err)
	} else if len(ns.Items) != 0 {
		t.Errorf("%d networks labelled %s=%s after Close", len(ns.Items), LabelKey, runID)
	}
}

func checkNodes(t *testing.T, c *Cluster) {
	t.Helper()
	nodes := c.Nodes()
	if len(nodes) != 3 {
		t.Fatalf("Nodes = %+v", nodes)
	}
	for i, n := range nodes {
		if n.ID != int32(i+1) || n.Rack != DefaultRacks[i] || n.Addr == "" || n.ControllerAddr == "" {
			t.Errorf("node %d = %+v", i, n)
		}
		if c.Logs(n.ID) == "" || c.MetricsURL(n.ID) == "" || c.ContainerName(n.ID) == "" {
			t.Errorf("node %d: logs %q metrics %q container %q", n.ID, c.Logs(n.ID), c.MetricsURL(n.ID), c.ContainerName(n.ID))
		}
	}
}

// TestHostNetworkCluster runs the fallback mode (every container in the
// host's network namespace on its own loopback ports): start, acks=all
// produce, leader kill, failover, restart, ISR 3. Opt-in
// (HIGHWATER_CONTAINER_HOSTNET=1) to keep the default run short.
func TestHostNetworkCluster(t *testing.T) {
	if os.Getenv("HIGHWATER_CONTAINER_HOSTNET") != "1" {
		t.Skip("set HIGHWATER_CONTAINER_HOSTNET=1 to run the host-network mode")
	}
	requireEngine(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	began := time.Now()
	c, err := New(ctx, Config{Dir: t.TempDir(), HostNetwork: true, Build: BuildContext{Binary: staticBinary(ctx, t)}, Set: map[string]string{
		"broker.session.timeout.ms":    strconv.Itoa(int(sessionTimeout.Milliseconds())),
		"broker.heartbeat.interval.ms": "500",
	}})
	if err != nil {
		t.Fatal(err)
	}
	runID := c.RunID()
	defer func() {
		if err := c.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
		checkGone(t, runID)
		t.Logf("whole test %v", time.Since(began))
	}()
	t.Logf("3 nodes ready in %v at %s", time.Since(began), c.Bootstrap())
	checkNodes(t, c)
	for _, n := range c.Nodes() {
		if !strings.HasPrefix(n.Addr, "127.0.0.1:") {
			t.Errorf("node %d at %s, want loopback", n.ID, n.Addr)
		}
	}
	if _, err := cluster.NetworkOf(c); !errors.Is(err, cluster.ErrUnavailable) {
		t.Errorf("NetworkOf = %v, want ErrUnavailable", err)
	}
	adm := clustertesting.Admin(t, c)
	defer adm.Close()
	const topic = "t"
	clustertesting.CreateTopic(ctx, t, adm, topic, 1, 30*time.Second)
	want := clustertesting.Produce(ctx, t, c, topic, 50, "a")
	tp0 := cluster.TopicPartition{Topic: topic}
	old := clustertesting.LeaderOf(ctx, t, c, tp0)
	if err := c.Kill(ctx, old); err != nil {
		t.Fatal(err)
	}
	waitNewLeader(ctx, t, c, tp0, old)
	want = append(want, clustertesting.Produce(ctx, t, c, topic, 10, "b")...)
	if err := c.Restart(ctx, old); err != nil {
		t.Fatal(err)
	}
	if err := clustertesting.WaitISR(ctx, adm, topic, 3, 30*time.Second); err != nil {
		t.Fatalf("node %d not back in the ISR: %v", old, err)
	}
	clustertesting.ConsumeExpect(ctx, t, c, topic, want)
}

// TestRemoveLeftovers: a labelled network of a cluster never closed is
// found and removed by its run id.
func TestRemoveLeftovers(t *testing.T) {
	requireEngine(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	runID := newRunID()
	nw, err := tcnetwork.New(ctx, tcnetwork.WithLabels(map[string]string{LabelKey: runID}))
	if err != nil {
		t.Fatal(err)
	}
	n, err := RemoveLeftovers(ctx, runID)
	if err != nil || n != 0 {
		t.Fatalf("RemoveLeftovers = %d, %v", n, err)
	}
	checkGone(t, runID)
	_ = nw.Remove(ctx) // already gone; nothing else to undo
}

// TestCheckStatic: a dynamically linked executable is refused up front,
// a file that is not ELF too.
func TestCheckStatic(t *testing.T) {
	if err := CheckStatic("/bin/sh"); !errors.Is(err, ErrNotStatic) {
		t.Errorf("CheckStatic(/bin/sh) = %v, want ErrNotStatic", err)
	}
	txt := t.TempDir() + "/x"
	if err := os.WriteFile(txt, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := CheckStatic(txt); !errors.Is(err, ErrNotStatic) {
		t.Errorf("CheckStatic(script) = %v", err)
	}
	if _, err := PrepareBuildContext(context.Background(), BuildContext{Binary: "/bin/sh", WorkDir: t.TempDir()}); !errors.Is(err, ErrNotStatic) {
		t.Errorf("PrepareBuildContext(/bin/sh) = %v", err)
	}
}
