package bench

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/highwater-io/highwater/internal/brokerproc"
)

// Target is something a workload can run against. Start brings up a fresh
// instance (a new process in a new directory, for the process targets).
type Target interface {
	Name() string
	Start(ctx context.Context) (Instance, error)
}

// Instance is one started target.
type Instance interface {
	Bootstrap() string
	// PID is the broker's own process (the JVM for Kafka, not a wrapper
	// script), or 0 when the target is not a local process.
	PID() int
	// Stop ends the instance and removes whatever it wrote.
	Stop() error
}

// ProcTarget runs `Binary broker --config ...` through brokerproc: the
// highwater binary for the reference broker, or the kfakebroker stand-in
// (internal/brokerproc/kfakebroker) for franz-go's kfake in a process of its
// own, so its memory and CPU are measured apart from the benchmark client.
type ProcTarget struct {
	TargetName string
	Binary     string
	// WorkDir holds the per-run data directories; os.TempDir() when empty.
	WorkDir    string
	Properties map[string]string
}

// Name implements Target.
func (t ProcTarget) Name() string { return t.TargetName }

// Start implements Target.
func (t ProcTarget) Start(ctx context.Context) (Instance, error) {
	dir, err := os.MkdirTemp(t.WorkDir, "bench-"+t.TargetName+"-")
	if err != nil {
		return nil, fmt.Errorf("bench: %s data dir: %w", t.TargetName, err)
	}
	n, err := brokerproc.Start(ctx, brokerproc.Options{Binary: t.Binary, DataDir: dir, Properties: t.Properties})
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("bench: start %s: %w", t.TargetName, err)
	}
	return &procInstance{node: n, dir: dir}, nil
}

type procInstance struct {
	node *brokerproc.Node
	dir  string
}

func (p *procInstance) Bootstrap() string { return p.node.Addr() }
func (p *procInstance) PID() int          { return p.node.PID() }
func (p *procInstance) NodeCount() int    { return 1 }
func (p *procInstance) Stop() error {
	err := p.node.Stop()
	if rmErr := os.RemoveAll(p.dir); err == nil {
		err = rmErr
	}
	return err
}

// KafkaTarget runs one Apache Kafka KRaft node through
// conformance/java/kafka-single.sh (which fetches the jars on first use).
type KafkaTarget struct {
	// Script is the path of kafka-single.sh.
	Script string
	// Heap is the JVM heap (-Xms and -Xmx), "1g" when empty.
	Heap string
	// WorkDir holds the per-run directories; os.TempDir() when empty.
	WorkDir string
	// StartTimeout bounds the script's start; 3 minutes when zero.
	StartTimeout time.Duration
}

// Name implements Target.
func (KafkaTarget) Name() string { return "kafka" }

// Start implements Target.
func (t KafkaTarget) Start(ctx context.Context) (Instance, error) {
	heap := t.Heap
	if heap == "" {
		heap = "1g"
	}
	timeout := t.StartTimeout
	if timeout <= 0 {
		timeout = 3 * time.Minute
	}
	dir, err := os.MkdirTemp(t.WorkDir, "bench-kafka-")
	if err != nil {
		return nil, fmt.Errorf("bench: kafka dir: %w", err)
	}
	port, err := freePortPair()
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	inst := &kafkaInstance{script: t.Script, dir: dir, port: port}
	startCtx, cancel := context.WithTimeout(ctx, timeout+30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(startCtx, t.Script, "start", dir, strconv.Itoa(port))
	cmd.Env = append(os.Environ(), "KAFKA_HEAP="+heap, "START_TIMEOUT="+strconv.Itoa(int(timeout.Seconds())))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		_ = inst.Stop()
		return nil, fmt.Errorf("bench: start kafka: %w\n%s", err, strings.TrimSpace(out.String()))
	}
	if inst.PID() == 0 {
		_ = inst.Stop()
		return nil, fmt.Errorf("bench: start kafka: no running pid in %s", filepath.Join(dir, "kafka.pid"))
	}
	return inst, nil
}

// freePortPair finds a port p with p+1 also free (the script puts the
// controller listener on p+1).
func freePortPair() (int, error) {
	for range 20 {
		p, err := brokerproc.FreePort(brokerproc.DefaultHost)
		if err != nil {
			return 0, err
		}
		if p >= 65535 {
			continue
		}
		if ln, err := netListen(p + 1); err == nil {
			_ = ln.Close()
			return p, nil
		}
	}
	return 0, fmt.Errorf("bench: no free port pair for kafka")
}

type kafkaInstance struct {
	script string
	dir    string
	port   int
}

func (k *kafkaInstance) NodeCount() int { return 1 }

func (k *kafkaInstance) Bootstrap() string {
	return brokerproc.DefaultHost + ":" + strconv.Itoa(k.port)
}

// PID reads the JVM's pid from the script's pid file: the script starts
// java with nohup in the background, so this is the java process itself.
func (k *kafkaInstance) PID() int {
	b, err := os.ReadFile(filepath.Join(k.dir, "kafka.pid"))
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0
	}
	return pid
}

func (k *kafkaInstance) Stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, k.script, "stop", k.dir).CombinedOutput()
	if err != nil {
		err = fmt.Errorf("bench: stop kafka: %w\n%s", err, strings.TrimSpace(string(out)))
	}
	if rmErr := os.RemoveAll(k.dir); err == nil {
		err = rmErr
	}
	return err
}

// AddressTarget is a broker someone else runs; nothing is started or
// measured besides throughput.
type AddressTarget struct{ Addr string }

// Name implements Target.
func (t AddressTarget) Name() string { return t.Addr }

// Start implements Target.
func (t AddressTarget) Start(context.Context) (Instance, error) { return addrInstance(t.Addr), nil }

type addrInstance string

func (a addrInstance) Bootstrap() string { return string(a) }
func (addrInstance) PID() int            { return 0 }
func (addrInstance) Stop() error         { return nil }

func netListen(port int) (interface{ Close() error }, error) {
	return net.Listen("tcp", net.JoinHostPort(brokerproc.DefaultHost, strconv.Itoa(port)))
}
