package conformance

// The Kafka pass: with HIGHWATER_TARGET=kafka every test runs against a
// real Apache Kafka 4.x KRaft node started through java/kafka-single.sh
// instead of a highwater broker. Tests asking for no broker properties
// share one node for the whole package run (started on first use, stopped
// after m.Run); tests that set properties, kill or restart their broker
// get a node of their own, as they do against highwater.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	// envTarget selects what the tests talk to: "reference" (the default,
	// a highwater broker per test) or "kafka".
	envTarget = "HIGHWATER_TARGET"
	// kafkaNodeHeap keeps each Kafka JVM small enough for two cores.
	kafkaNodeHeap = "512m"
	// kafkaStartTimeout bounds one node's start, a JVM on a busy machine.
	kafkaStartTimeout = 3 * time.Minute
)

// targetKind is the parsed envTarget.
func targetKind() (string, error) {
	switch v := strings.ToLower(strings.TrimSpace(os.Getenv(envTarget))); v {
	case "", "reference":
		return "reference", nil
	case "kafka":
		return "kafka", nil
	default:
		return "", fmt.Errorf("%s=%q: want reference or kafka", envTarget, v)
	}
}

// kafkaPass reports whether this run targets Apache Kafka.
func kafkaPass() bool {
	k, _ := targetKind()
	return k == "kafka"
}

// kafkaNode is one Kafka node run by java/kafka-single.sh in its own
// directory; the script keeps the JVM's pid in <dir>/kafka.pid.
type kafkaNode struct {
	script string
	dir    string
	port   int
	env    []string
}

// sharedKafka is the node tests without properties share.
var sharedKafka struct {
	once sync.Once
	node *kafkaNode
	dir  string
	err  error
}

// startKafkaNode starts a node in dir with Kafka's defaults, the script's
// test settings and props on top.
func startKafkaNode(ctx context.Context, dir string, props map[string]string) (*kafkaNode, error) {
	script, err := filepath.Abs(filepath.Join("java", "kafka-single.sh"))
	if err != nil {
		return nil, err
	}
	if _, err := exec.LookPath("java"); err != nil {
		return nil, fmt.Errorf("%s=kafka needs java on PATH (Java 17+; conformance/deps.sh installs it): %w", envTarget, err)
	}
	port, err := freePortPair()
	if err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(props))
	for k := range props {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var kv []string
	for _, k := range keys {
		if strings.ContainsAny(k+props[k], " \t\n") {
			return nil, fmt.Errorf("kafka property %s=%q: kafka-single.sh takes no blanks", k, props[k])
		}
		kv = append(kv, k+"="+props[k])
	}
	n := &kafkaNode{script: script, dir: dir, port: port,
		env: append(os.Environ(), "KAFKA_HEAP="+kafkaNodeHeap, "KAFKA_PROPS="+strings.Join(kv, " "))}
	if err := n.start(ctx); err != nil {
		return nil, err
	}
	return n, nil
}

// Addr is the node's bootstrap address.
func (n *kafkaNode) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(n.port)) }

// run runs the script with args, bounded by ctx.
func (n *kafkaNode) run(ctx context.Context, args ...string) error {
	cmd := exec.CommandContext(ctx, n.script, args...)
	cmd.Env = n.env
	cmd.WaitDelay = 5 * time.Second
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("kafka-single.sh %s: %w\n%s", strings.Join(args, " "), err, stockTail(stderr.Bytes(), 30))
	}
	return nil
}

// start starts (or restarts, keeping the data) the node and waits until it
// serves.
func (n *kafkaNode) start(ctx context.Context) error {
	return n.run(ctx, "start", n.dir, strconv.Itoa(n.port))
}

// stop shuts the node down gracefully (SIGTERM; the script escalates).
func (n *kafkaNode) stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	return n.run(ctx, "stop", n.dir)
}

// kill SIGKILLs the JVM and waits until it is gone.
func (n *kafkaNode) kill() error {
	b, err := os.ReadFile(filepath.Join(n.dir, "kafka.pid"))
	if err != nil {
		return fmt.Errorf("kafka node not running: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return fmt.Errorf("kafka.pid: %w", err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("kill -9 %d: %w", pid, err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			return fmt.Errorf("kafka pid %d still alive 30 s after SIGKILL", pid)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return os.Remove(filepath.Join(n.dir, "kafka.pid"))
}

// logTail is the end of the node's output, for failure messages.
func (n *kafkaNode) logTail(lines int) string {
	b, _ := os.ReadFile(filepath.Join(n.dir, "server.out"))
	return stockTail(b, lines)
}

// sharedKafkaNode starts the shared node on first use.
func sharedKafkaNode(tb testing.TB) *kafkaNode {
	tb.Helper()
	s := &sharedKafka
	s.once.Do(func() {
		if s.dir, s.err = os.MkdirTemp("", "highwater-conformance-kafka-"); s.err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), kafkaStartTimeout)
		defer cancel()
		began := time.Now()
		s.node, s.err = startKafkaNode(ctx, s.dir, nil)
		if s.err == nil {
			fmt.Fprintf(os.Stderr, "conformance: shared Apache Kafka node at %s ready in %v\n",
				s.node.Addr(), time.Since(began).Round(100*time.Millisecond))
		}
	})
	if s.err != nil {
		tb.Fatalf("starting the shared Apache Kafka node: %v", s.err)
	}
	return s.node
}

// stopSharedKafka stops the shared node, if one was started; TestMain calls
// it after the tests.
func stopSharedKafka() {
	s := &sharedKafka
	if s.node != nil {
		if err := s.node.stop(); err != nil {
			fmt.Fprintln(os.Stderr, "conformance: stopping the shared Kafka node:", err)
		}
	}
	if s.dir != "" {
		_ = os.RemoveAll(s.dir)
	}
}

// newKafkaTarget returns the shared node when own is false and props is
// nil, else a node of this test's own with baseProps and props, stopped at
// test end.
func newKafkaTarget(tb testing.TB, props map[string]string, own bool) *target {
	tb.Helper()
	if props == nil && !own {
		n := sharedKafkaNode(tb)
		return &target{Bootstrap: n.Addr(), tb: tb}
	}
	all := map[string]string{}
	for k, v := range baseProps {
		all[k] = v
	}
	for k, v := range props {
		all[k] = v
	}
	ctx, cancel := context.WithTimeout(context.Background(), kafkaStartTimeout)
	defer cancel()
	dir := tb.TempDir()
	n, err := startKafkaNode(ctx, dir, all)
	if err != nil {
		tb.Fatalf("starting an Apache Kafka node: %v", err)
	}
	tb.Cleanup(func() {
		if tb.Failed() {
			tb.Logf("kafka %s output (tail):\n%s", n.Addr(), n.logTail(60))
		}
		// Its data is thrown away: SIGKILL saves the seconds a graceful
		// KRaft shutdown takes.
		if err := n.kill(); err != nil && !errors.Is(err, os.ErrNotExist) {
			tb.Errorf("kafka node did not stop: %v", err)
		}
	})
	return &target{Bootstrap: n.Addr(), kafka: n, tb: tb}
}

// freePortPair finds p such that p and p+1 are both free on 127.0.0.1
// (kafka-single.sh puts the controller on the port above the client's).
func freePortPair() (int, error) {
	for range 50 {
		l1, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		p := l1.Addr().(*net.TCPAddr).Port
		l2, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p+1)))
		l1.Close()
		if err == nil {
			l2.Close()
			return p, nil
		}
	}
	return 0, errors.New("no two consecutive free ports on 127.0.0.1")
}
