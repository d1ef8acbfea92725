package kafka

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Defaults sized for a 2-core machine running three JVMs.
const (
	DefaultNodes        = 3
	DefaultHeapMB       = 512
	DefaultReadyTimeout = 120 * time.Second
	DefaultStopTimeout  = 30 * time.Second
)

// DefaultRacks are cycled over the nodes: node 1 in az-a, 2 in az-b, …
var DefaultRacks = []string{"az-a", "az-b", "az-c"}

// ErrBadConfig wraps every Validate failure.
var ErrBadConfig = errors.New("kafka: bad config")

// Config describes a cluster. The zero value of every field but Dir means
// its default (see DefaultConfig).
type Config struct {
	// Nodes is the number of broker+controller nodes, ids 1..Nodes.
	Nodes int
	// Racks are assigned to nodes round-robin (broker.rack).
	Racks []string
	// Dir holds one directory per node. Required.
	Dir string
	// BasePort, when non-zero, gives node i (1-based) the client port
	// BasePort+2(i-1) and the controller port one above; zero picks free
	// ports. In NetNS mode every node has its own address, so every node
	// uses BasePort and BasePort+1 (9092/9093 when zero).
	BasePort int
	// Set overrides or adds broker properties on every node, after the
	// defaults (unsafe settings go here).
	Set map[string]string
	// NetNS runs each node in its own network namespace (root only).
	NetNS bool
	// Lib is the directory of Kafka's jars; see the package doc for the
	// fallbacks when empty.
	Lib string
	// Java is the java executable; empty means $JAVA_HOME/bin/java, else
	// java on PATH.
	Java string
	// HeapMB is each node's -Xmx.
	HeapMB int
	// ReadyTimeout bounds New's wait for the whole cluster, and Start's and
	// Restart's wait for one node.
	ReadyTimeout time.Duration
	// StopTimeout bounds a graceful Stop before it escalates to SIGKILL.
	StopTimeout time.Duration
}

// DefaultConfig is a 3-node cluster in dir.
func DefaultConfig(dir string) Config {
	return Config{
		Nodes:        DefaultNodes,
		Racks:        append([]string(nil), DefaultRacks...),
		Dir:          dir,
		HeapMB:       DefaultHeapMB,
		ReadyTimeout: DefaultReadyTimeout,
		StopTimeout:  DefaultStopTimeout,
	}
}

// withDefaults fills zero fields.
func (c Config) withDefaults() Config {
	if c.Nodes == 0 {
		c.Nodes = DefaultNodes
	}
	if len(c.Racks) == 0 {
		c.Racks = append([]string(nil), DefaultRacks...)
	}
	if c.HeapMB == 0 {
		c.HeapMB = DefaultHeapMB
	}
	if c.ReadyTimeout == 0 {
		c.ReadyTimeout = DefaultReadyTimeout
	}
	if c.StopTimeout == 0 {
		c.StopTimeout = DefaultStopTimeout
	}
	return c
}

// Validate reports the first problem in c (after defaults), wrapping
// ErrBadConfig.
func (c Config) Validate() error {
	c = c.withDefaults()
	switch {
	case c.Dir == "":
		return fmt.Errorf("%w: Dir is required", ErrBadConfig)
	case c.Nodes < 1 || c.Nodes > 32:
		return fmt.Errorf("%w: %d nodes, want 1..32", ErrBadConfig, c.Nodes)
	case c.BasePort < 0 || c.BasePort+2*c.Nodes > 65535:
		return fmt.Errorf("%w: base port %d", ErrBadConfig, c.BasePort)
	case c.HeapMB < 128:
		return fmt.Errorf("%w: heap %d MB, want at least 128", ErrBadConfig, c.HeapMB)
	case c.ReadyTimeout < 0 || c.StopTimeout < 0:
		return fmt.Errorf("%w: negative timeout", ErrBadConfig)
	}
	for _, r := range c.Racks {
		if strings.TrimSpace(r) == "" {
			return fmt.Errorf("%w: empty rack name", ErrBadConfig)
		}
	}
	for k := range c.Set {
		if strings.TrimSpace(k) == "" || strings.ContainsAny(k, "=\n") {
			return fmt.Errorf("%w: property key %q", ErrBadConfig, k)
		}
		if owned[k] {
			return fmt.Errorf("%w: %s is set by the driver (it places nodes and listeners)", ErrBadConfig, k)
		}
	}
	return nil
}

// owned are properties the driver must control: changing them would break
// addressing, identity or the data layout the driver relies on.
var owned = map[string]bool{
	"node.id": true, "process.roles": true, "listeners": true, "advertised.listeners": true,
	"controller.quorum.voters": true, "controller.quorum.bootstrap.servers": true,
	"controller.listener.names": true, "log.dirs": true, "log.dir": true,
	"inter.broker.listener.name": true, "listener.security.protocol.map": true,
}

// ParseSet turns key=value strings (as given to --set) into a map.
func ParseSet(kvs []string) (map[string]string, error) {
	out := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("%w: --set %q: want key=value", ErrBadConfig, kv)
		}
		out[k] = v
	}
	return out, nil
}

// nodeAddr is where one node listens.
type nodeAddr struct {
	host                   string
	clientPort, controller int
}

func (a nodeAddr) client() string { return a.host + ":" + strconv.Itoa(a.clientPort) }
func (a nodeAddr) ctrl() string   { return a.host + ":" + strconv.Itoa(a.controller) }

// properties builds node id's server.properties: the driver's layout, then
// defaults for replication and a 2-core machine, then c.Set.
func (c Config) properties(id int32, addrs []nodeAddr, dataDir string) map[string]string {
	n := len(addrs)
	rf := strconv.Itoa(min(3, n))
	minISR := strconv.Itoa(min(2, n))
	voters := make([]string, n)
	for i, a := range addrs {
		voters[i] = fmt.Sprintf("%d@%s", i+1, a.ctrl())
	}
	self := addrs[id-1]
	p := map[string]string{
		"process.roles":                  "broker,controller",
		"node.id":                        strconv.Itoa(int(id)),
		"controller.quorum.voters":       strings.Join(voters, ","),
		"listeners":                      "PLAINTEXT://" + self.client() + ",CONTROLLER://" + self.ctrl(),
		"advertised.listeners":           "PLAINTEXT://" + self.client(),
		"controller.listener.names":      "CONTROLLER",
		"listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
		"inter.broker.listener.name":     "PLAINTEXT",
		"log.dirs":                       dataDir,
		"broker.rack":                    c.Racks[int(id-1)%len(c.Racks)],

		"default.replication.factor":                       rf,
		"min.insync.replicas":                              minISR,
		"offsets.topic.replication.factor":                 rf,
		"transaction.state.log.replication.factor":         rf,
		"transaction.state.log.min.isr":                    minISR,
		"share.coordinator.state.topic.replication.factor": rf,
		"share.coordinator.state.topic.min.isr":            minISR,
		"unclean.leader.election.enable":                   "false",
		"auto.create.topics.enable":                        "true",
		"group.initial.rebalance.delay.ms":                 "0",

		// Threads for 2 cores shared by N JVMs.
		"num.network.threads":               "2",
		"num.io.threads":                    "2",
		"background.threads":                "2",
		"num.replica.fetchers":              "1",
		"num.recovery.threads.per.data.dir": "1",
		"log.cleaner.threads":               "1",
	}
	for k, v := range c.Set {
		p[k] = v
	}
	return p
}
