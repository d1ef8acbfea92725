package clustertest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/highwater-io/highwater/harness/cluster"
	"github.com/highwater-io/highwater/internal/brokerproc"
)

// Environment that selects the Kafka pass.
const (
	envTarget       = "HIGHWATER_TARGET"        // "kafka": only the Kafka pass
	envRequireKafka = "HIGHWATER_REQUIRE_KAFKA" // CI: Kafka must run, not skip
	envKafkaCluster = "HIGHWATER_KAFKA_CLUSTER" // ask for the Kafka pass locally
)

// testSessionTimeout is broker.session.timeout.ms on both implementations
// here: shorter than Kafka's 9 s default to keep the suite bounded, equal
// on both so their behaviour compares.
const testSessionTimeout = 6 * time.Second

func kafkaTarget() bool { return strings.EqualFold(os.Getenv(envTarget), "kafka") }

// kafkaWanted reports whether the Kafka pass runs, and why not.
func kafkaWanted() (bool, string) {
	if kafkaTarget() || os.Getenv(envRequireKafka) != "" || os.Getenv(envKafkaCluster) != "" {
		return true, ""
	}
	return false, "the 3-node Apache Kafka pass starts three JVMs (minutes on two cores): set " +
		envKafkaCluster + "=1, " + envTarget + "=kafka or " + envRequireKafka + "=1 (CI), or run make test-kafka"
}

// fixture is one implementation's cluster, shared by the subtests of one
// top-level test. Each subtest starts with every node running.
type fixture struct {
	impl Impl
	dir  string
	bin  string
	c    cluster.Cluster
	cl   *kgo.Client
}

var buildOnce struct {
	sync.Once
	bin string
	err error
	dir string
}

// referenceBinary builds ./cmd/highwater once per package run, unless
// HIGHWATER_BROKER_BINARY names a binary to use (as in conformance/).
func referenceBinary(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("HIGHWATER_BROKER_BINARY"); bin != "" {
		return bin
	}
	buildOnce.Do(func() {
		buildOnce.dir, buildOnce.err = os.MkdirTemp("", "clustertest-bin-")
		if buildOnce.err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		buildOnce.bin, buildOnce.err = brokerproc.Build(ctx, buildOnce.dir)
	})
	if buildOnce.err != nil {
		t.Fatalf("building highwater: %v", buildOnce.err)
	}
	return buildOnce.bin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if buildOnce.dir != "" {
		os.RemoveAll(buildOnce.dir)
	}
	os.Exit(code)
}

// newFixture starts impl's 3-node cluster, closed when t ends.
func newFixture(t *testing.T, impl Impl) *fixture {
	t.Helper()
	f := &fixture{impl: impl, dir: t.TempDir()}
	if impl == Reference {
		f.bin = referenceBinary(t)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	began := time.Now()
	c, err := Start(ctx, Config{Impl: impl, Dir: f.dir, Binary: f.bin, SessionTimeout: testSessionTimeout})
	if err != nil {
		t.Fatalf("start %s cluster: %v", impl, err)
	}
	t.Logf("%s cluster ready in %v: %s", impl, time.Since(began).Round(100*time.Millisecond), c.Bootstrap())
	f.c = c
	if f.cl, err = NewClient(c); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		f.cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := c.Close(ctx); err != nil {
			t.Errorf("close %s cluster: %v", impl, err)
		}
	})
	return f
}

// sub prepares a subtest: every node running (a failed earlier subtest may
// have left one down), a context bounded by d, and the nodes started again
// when the subtest ends however it ends.
func (f *fixture) sub(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	f.startAll(t, ctx)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		f.startAll(t, ctx)
	})
	return ctx
}

func (f *fixture) startAll(t *testing.T, ctx context.Context) {
	t.Helper()
	for _, n := range f.c.Nodes() {
		if err := f.c.Start(ctx, n.ID); err != nil {
			t.Fatalf("start node %d: %v\nlog: %s", n.ID, err, f.c.Logs(n.ID))
		}
	}
}

// topicName is a fresh topic name derived from the test's.
func (f *fixture) topicName(t *testing.T) string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return strings.ToLower(regexp.MustCompile(`[^a-zA-Z0-9]+`).ReplaceAllString(t.Name(), "-")) + "-" + hex.EncodeToString(b[:])
}

// topic creates a fresh RF-3 topic named after the test.
func (f *fixture) topic(t *testing.T, ctx context.Context, partitions int32) string {
	t.Helper()
	name := f.topicName(t)
	if err := CreateTopic(ctx, f.c, f.cl, name, partitions, 3, nil); err != nil {
		t.Fatal(err)
	}
	return name
}

// leader returns partition p's current state (with a leader).
func (f *fixture) state(t *testing.T, ctx context.Context, topic string, p int32) PartitionState {
	t.Helper()
	s, err := WaitLeader(ctx, f.c, f.cl, topic, p, -1)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// rack returns node id's rack.
func (f *fixture) rack(id int32) string {
	for _, n := range f.c.Nodes() {
		if n.ID == id {
			return n.Rack
		}
	}
	return ""
}

// others lists the nodes other than id.
func (f *fixture) others(id int32) []int32 {
	var out []int32
	for _, n := range f.c.Nodes() {
		if n.ID != id {
			out = append(out, n.ID)
		}
	}
	return out
}

// waitAcked waits until prod has n acknowledgements after since.
func waitAcked(t *testing.T, ctx context.Context, prod *Producer, since time.Time, n int, what string) {
	t.Helper()
	if err := waitAcks(ctx, prod, since, n, time.Until(deadlineOf(ctx))); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func deadlineOf(ctx context.Context) time.Time {
	if d, ok := ctx.Deadline(); ok {
		return d
	}
	return time.Now().Add(time.Minute)
}
