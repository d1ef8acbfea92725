package conformance

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/highwater-io/highwater/internal/brokerproc"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	envBootstrap = "HIGHWATER_BOOTSTRAP"
	envBinary    = "HIGHWATER_BROKER_BINARY"
	envBrokerLog = "HIGHWATER_BROKER_LOG"
	// envExternalProps describes how the external cluster is configured
	// ("k=v k2=v2"), so tests asking for exactly those settings run
	// against it instead of skipping.
	envExternalProps = "HIGHWATER_EXTERNAL_PROPS"

	skipExternal = "needs a broker this test starts: " + envBootstrap + " points at an external cluster"
)

// brokerBinary is set by TestMain unless the run targets an external
// cluster.
var brokerBinary string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	kind, err := targetKind()
	if err != nil {
		fmt.Fprintln(os.Stderr, "conformance:", err)
		return 2
	}
	if kind == "kafka" {
		if os.Getenv(envBootstrap) != "" {
			fmt.Fprintf(os.Stderr, "conformance: set either %s or %s=kafka, not both\n", envBootstrap, envTarget)
			return 2
		}
		defer stopSharedKafka()
		return m.Run()
	}
	if os.Getenv(envBootstrap) == "" {
		if bin := os.Getenv(envBinary); bin != "" {
			brokerBinary = bin
		} else {
			dir, err := os.MkdirTemp("", "highwater-conformance-")
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
			defer os.RemoveAll(dir)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			brokerBinary, err = brokerproc.Build(ctx, dir)
			cancel()
			if err != nil {
				fmt.Fprintln(os.Stderr, "conformance: building the broker:", err)
				return 1
			}
		}
	}
	return m.Run()
}

// baseProps are set on every broker a test starts. They speed tests up
// without changing what is asserted: with the Kafka default of 3 s the first
// rebalance of every new group just waits longer.
var baseProps = map[string]string{
	"group.initial.rebalance.delay.ms": "0",
}

// target is the cluster a test talks to.
type target struct {
	// Bootstrap is the host:port clients seed from.
	Bootstrap string
	// Node is the highwater broker this test started, nil for an external
	// cluster or a Kafka node.
	Node *brokerproc.Node
	// kafka is the Apache Kafka node this test started (HIGHWATER_TARGET=
	// kafka), nil for the shared one.
	kafka *kafkaNode

	tb testing.TB
}

// newTarget returns the cluster for this test: the external one named by
// HIGHWATER_BOOTSTRAP (skipping the test if props is non-nil, since an
// external broker cannot be configured); with HIGHWATER_TARGET=kafka the
// shared Apache Kafka node (props nil) or a Kafka node of its own; else a
// fresh highwater broker started with baseProps plus props and stopped
// when the test ends.
func newTarget(tb testing.TB, props map[string]string) *target {
	tb.Helper()
	return newTargetOwn(tb, props, false)
}

// newOwnTarget is newTarget for a test that kills or restarts its broker:
// it never gets a shared one.
func newOwnTarget(tb testing.TB, props map[string]string) *target {
	tb.Helper()
	return newTargetOwn(tb, props, true)
}

func newTargetOwn(tb testing.TB, props map[string]string, own bool) *target {
	tb.Helper()
	if bs := os.Getenv(envBootstrap); bs != "" {
		if own || (props != nil && !externalHas(props)) {
			tb.Skip(skipExternal)
		}
		return &target{Bootstrap: bs, tb: tb}
	}
	if kafkaPass() {
		return newKafkaTarget(tb, props, own)
	}
	all := make(map[string]string, len(baseProps)+len(props))
	for k, v := range baseProps {
		all[k] = v
	}
	for k, v := range props {
		all[k] = v
	}
	var stderr io.Writer
	if os.Getenv(envBrokerLog) != "" {
		stderr = os.Stderr
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	node, err := brokerproc.Start(ctx, brokerproc.Options{
		Binary:     brokerBinary,
		DataDir:    tb.TempDir(),
		Properties: all,
		Stderr:     stderr,
	})
	if err != nil {
		tb.Fatalf("starting broker: %v", err)
	}
	tb.Cleanup(func() {
		if tb.Failed() {
			tb.Logf("broker %s output (tail):\n%s", node.Addr(), node.StderrTail(60))
		}
		if err := node.Stop(); err != nil {
			tb.Errorf("broker did not shut down cleanly on SIGTERM: %v", err)
		}
	})
	return &target{Bootstrap: node.Addr(), Node: node, tb: tb}
}

// externalHas reports whether HIGHWATER_EXTERNAL_PROPS says the external
// cluster runs with every one of props.
func externalHas(props map[string]string) bool {
	have := map[string]string{}
	for _, kv := range strings.Fields(os.Getenv(envExternalProps)) {
		if k, v, ok := strings.Cut(kv, "="); ok {
			have[k] = v
		}
	}
	for k, v := range props {
		if got, ok := have[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// needsOwnBroker skips the test when it cannot control the broker process.
func (tg *target) needsOwnBroker() {
	tg.tb.Helper()
	if tg.Node == nil && tg.kafka == nil {
		tg.tb.Skip(skipExternal)
	}
}

// Kill SIGKILLs the broker (a crash).
func (tg *target) Kill() {
	tg.tb.Helper()
	tg.needsOwnBroker()
	var err error
	if tg.kafka != nil {
		err = tg.kafka.kill()
	} else {
		err = tg.Node.Kill()
	}
	if err != nil {
		tg.tb.Fatalf("kill broker: %v", err)
	}
}

// Restart starts the broker again on the same port and data dir (stopping
// it gracefully first if it still runs).
func (tg *target) Restart() {
	tg.tb.Helper()
	tg.needsOwnBroker()
	if tg.kafka != nil {
		ctx, cancel := context.WithTimeout(context.Background(), kafkaStartTimeout)
		defer cancel()
		if err := tg.kafka.stop(); err != nil {
			tg.tb.Fatalf("stop kafka before restart: %v", err)
		}
		if err := tg.kafka.start(ctx); err != nil {
			tg.tb.Fatalf("restart kafka: %v", err)
		}
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := tg.Node.Restart(ctx); err != nil {
		tg.tb.Fatalf("restart broker: %v", err)
	}
}

// client returns a franz-go client seeded with the target, closed at test
// end.
func (tg *target) client(opts ...kgo.Opt) *kgo.Client {
	tg.tb.Helper()
	all := append([]kgo.Opt{kgo.SeedBrokers(tg.Bootstrap)}, opts...)
	cl, err := kgo.NewClient(all...)
	if err != nil {
		tg.tb.Fatalf("kgo.NewClient: %v", err)
	}
	tg.tb.Cleanup(cl.Close)
	return cl
}

// admin returns a kadm client over a fresh kgo client.
func (tg *target) admin() *kadm.Client {
	tg.tb.Helper()
	return kadm.NewClient(tg.client())
}

// createTopic creates a uniquely named topic and returns its name.
func (tg *target) createTopic(ctx context.Context, partitions int32, configs map[string]*string) string {
	tg.tb.Helper()
	topic := uniqueName(tg.tb, "t")
	resp, err := tg.admin().CreateTopic(ctx, partitions, 1, configs, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		tg.tb.Fatalf("create topic %s: %v", topic, err)
	}
	tg.waitTopicReady(ctx, topic, partitions)
	return topic
}

// waitTopicReady waits until every partition of topic answers ListOffsets
// without error. Kafka acknowledges CreateTopics before the leader has
// loaded the partitions; an acks=0 producer racing that window loses
// records by design, which is not what the tests are about.
func (tg *target) waitTopicReady(ctx context.Context, topic string, partitions int32) {
	tg.tb.Helper()
	adm := tg.admin()
	eventually(tg.tb, ctx, "topic "+topic+" ready", func() error {
		los, err := adm.ListEndOffsets(ctx, topic)
		if err != nil {
			return err
		}
		for p := range partitions {
			lo, ok := los.Lookup(topic, p)
			if !ok {
				return fmt.Errorf("partition %d not listed", p)
			}
			if lo.Err != nil {
				return fmt.Errorf("partition %d: %w", p, lo.Err)
			}
		}
		return nil
	})
}

var nameUnsafe = regexp.MustCompile(`[^a-zA-Z0-9._-]+`)

// uniqueName builds a topic or group name from the test name plus random
// bytes, so reruns against one external cluster never collide.
func uniqueName(tb testing.TB, prefix string) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := nameUnsafe.ReplaceAllString(tb.Name(), "-")
	if len(name) > 150 {
		name = name[:150]
	}
	return strings.ToLower(prefix + "-" + name + "-" + hex.EncodeToString(b[:]))
}

// testCtx is a context bounded by d and cancelled at test end.
func testCtx(tb testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	tb.Cleanup(cancel)
	return ctx
}

// eventually polls cond every interval until it returns nil or ctx ends,
// then fails with the last error.
func eventually(tb testing.TB, ctx context.Context, what string, cond func() error) {
	tb.Helper()
	var err error
	for {
		if err = cond(); err == nil {
			return
		}
		select {
		case <-ctx.Done():
			tb.Fatalf("%s: not reached before deadline: %v", what, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func strp(s string) *string { return &s }
