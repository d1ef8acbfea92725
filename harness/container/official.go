package container

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
)

// Flavor names an official broker image the driver knows how to configure.
type Flavor string

const (
	// FlavorKafka is Apache Kafka's own image (apache/kafka), configured
	// through KAFKA_* environment variables, KRaft combined mode.
	FlavorKafka Flavor = "kafka"
	// FlavorRedpanda is Redpanda's image (redpandadata/redpanda),
	// configured through `redpanda start` flags.
	FlavorRedpanda Flavor = "redpanda"
)

// Default images and the environment variables that replace them (a
// Config.Image replaces both). Tags are pinned so runs compare like with
// like: Kafka 4.1.1 is the version harness/kafka runs as JVM processes.
const (
	DefaultKafkaImage    = "docker.io/apache/kafka:4.1.1"
	DefaultRedpandaImage = "docker.io/redpandadata/redpanda:v24.3.1"
	EnvKafkaImage        = "HIGHWATER_KAFKA_IMAGE"
	EnvRedpandaImage     = "HIGHWATER_REDPANDA_IMAGE"
)

// DefaultPullTimeout bounds the pre-flight pull: a reachable registry
// starts answering within seconds, and an unreachable one must not stall a
// run (the whole pull of a large image may take longer; a started pull
// that runs out of time is reported the same way, with the fix).
const DefaultPullTimeout = 20 * time.Second

// ErrImageUnavailable means an official image is neither in the engine's
// local store nor pullable within the pull timeout.
var ErrImageUnavailable = errors.New("container: image unavailable")

// ErrUnknownFlavor means a Flavor other than FlavorKafka or FlavorRedpanda.
var ErrUnknownFlavor = errors.New("container: unknown image flavor")

// envVar is the variable that overrides f's image.
func (f Flavor) envVar() string {
	if f == FlavorRedpanda {
		return EnvRedpandaImage
	}
	return EnvKafkaImage
}

func (f Flavor) valid() error {
	if f != FlavorKafka && f != FlavorRedpanda {
		return fmt.Errorf("%w: %q (want %q or %q)", ErrUnknownFlavor, f, FlavorKafka, FlavorRedpanda)
	}
	return nil
}

// ResolveImage is the image a cluster of flavor f runs: override when set,
// else the flavor's environment variable, else its default.
func ResolveImage(f Flavor, override string) string {
	if s := strings.TrimSpace(override); s != "" {
		return s
	}
	if s := strings.TrimSpace(os.Getenv(f.envVar())); s != "" {
		return s
	}
	if f == FlavorRedpanda {
		return DefaultRedpandaImage
	}
	return DefaultKafkaImage
}

// imageHint is the fix named in ErrImageUnavailable's message: which
// variable points at a local image, guessed from the image's name.
func imageHint(image string) string {
	env := "HIGHWATER_KAFKA_IMAGE or HIGHWATER_REDPANDA_IMAGE"
	switch low := strings.ToLower(image); {
	case strings.Contains(low, "redpanda"):
		env = EnvRedpandaImage
	case strings.Contains(low, "kafka"):
		env = EnvKafkaImage
	}
	return "pre-load the image with `podman load` (or `docker load`), or set " + env + " to a local image"
}

// ImagePresentOrPullable is the pre-flight for official images: nil when
// the engine has image locally or pulls it within DefaultPullTimeout;
// otherwise an error wrapping ErrImageUnavailable that names the image and
// the fix (or ErrNoEngine when no engine answers).
func ImagePresentOrPullable(ctx context.Context, image string) error {
	return withAPI(ctx, func(api *testcontainers.DockerClient) error {
		return presentOrPull(ctx, api, image, DefaultPullTimeout)
	})
}

// ImagePresent says whether the engine has image in its local store,
// without pulling: for tests that run only where the image was pre-loaded.
func ImagePresent(ctx context.Context, image string) (bool, error) {
	var present bool
	err := withAPI(ctx, func(api *testcontainers.DockerClient) error {
		var err error
		present, err = imageLocal(ctx, api, image)
		return err
	})
	return present, err
}

func withAPI(ctx context.Context, f func(*testcontainers.DockerClient) error) error {
	if err := CheckEngine(ctx); err != nil {
		return err
	}
	api, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		return fmt.Errorf("%w at %s: %w; %s", ErrNoEngine, EngineHost(), err, SetupHint)
	}
	defer api.Close()
	return f(api)
}

// imageLocal: inspect answers for a stored image and says "not found"
// for a missing one; any other failure is the engine's.
func imageLocal(ctx context.Context, api *testcontainers.DockerClient, image string) (bool, error) {
	if _, err := api.ImageInspect(ctx, image); err != nil {
		if isNotFound(err) {
			return false, nil
		}
		return false, fmt.Errorf("container: inspect image %s: %w", image, err)
	}
	return true, nil
}

// isNotFound recognises the engine's "no such image" answer (Docker and
// podman word it differently; both answer 404, which the client maps to
// errdefs' not-found class, whose message this falls back on).
func isNotFound(err error) bool {
	s := strings.ToLower(err.Error())
	return strings.Contains(s, "no such image") || strings.Contains(s, "not found") ||
		strings.Contains(s, "image not known")
}

// presentOrPull checks the local store, then pulls within timeout.
func presentOrPull(ctx context.Context, api *testcontainers.DockerClient, image string, timeout time.Duration) error {
	if strings.TrimSpace(image) == "" {
		return fmt.Errorf("%w: empty image name", ErrImageUnavailable)
	}
	ok, err := imageLocal(ctx, api, image)
	if err != nil || ok {
		return err
	}
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	resp, err := api.ImagePull(pctx, image, client.ImagePullOptions{})
	if err == nil {
		// The engine streams progress; a failed pull ends the stream with
		// an error message, which Wait returns.
		err = resp.Wait(pctx)
		_ = resp.Close()
	}
	if err != nil {
		return unavailable(image, timeout, err)
	}
	return nil
}

// unavailable wraps ErrImageUnavailable with the image, why, and the fix.
func unavailable(image string, timeout time.Duration, cause error) error {
	why := "pull failed"
	s := strings.ToLower(cause.Error())
	switch {
	case errors.Is(cause, context.DeadlineExceeded) || strings.Contains(s, "deadline exceeded") || strings.Contains(s, "timeout"):
		why = fmt.Sprintf("registry unreachable (no pull within %v)", timeout)
	case strings.Contains(s, "no such host") || strings.Contains(s, "dial tcp") || strings.Contains(s, "connection refused") ||
		strings.Contains(s, "network is unreachable") || strings.Contains(s, "pinging container registry"):
		why = "registry unreachable"
	case strings.Contains(s, "manifest unknown") || strings.Contains(s, "not found"):
		why = "no such image in the registry"
	}
	return fmt.Errorf("%w: pull %s: %s — %s (engine said: %v)", ErrImageUnavailable, image, why, imageHint(image), cause)
}

// newClusterID is a KRaft cluster id: 16 random bytes, base64url without
// padding (22 characters), as kafka-storage random-uuid prints.
func newClusterID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// kafkaEnvName is the apache/kafka image's environment variable for a
// server property: KAFKA_ prefix, upper case, '.' to '_', '_' to "__",
// '-' to "___" (the image's documented convention, shared with the
// Confluent images).
func kafkaEnvName(prop string) string {
	r := strings.NewReplacer("_", "__", "-", "___", ".", "_")
	return "KAFKA_" + strings.ToUpper(r.Replace(prop))
}

// The apache/kafka image's configuration entry point skips these
// variables when it writes server.properties: they go to the JVM and
// scripts instead. A property that would map onto one is refused.
var kafkaReservedEnv = map[string]bool{
	"KAFKA_HEAP_OPTS": true, "KAFKA_OPTS": true, "KAFKA_JMX_OPTS": true, "KAFKA_LOG4J_OPTS": true,
	"KAFKA_JVM_PERFORMANCE_OPTS": true, "KAFKA_GC_LOG_OPTS": true, "KAFKA_VERSION": true,
	"KAFKA_LOG4J_ROOT_LOGLEVEL": true, "KAFKA_LOG4J_LOGGERS": true, "KAFKA_TOOLS_LOG4J_LOGLEVEL": true,
	"KAFKA_JMX_HOSTNAME": true,
}

// kafkaDataDir is log.dirs inside the apache/kafka container (the node's
// host directory is bind-mounted there).
const kafkaDataDir = "/var/lib/kafka/data"

// redpandaDataDir is Redpanda's data directory in its image.
const redpandaDataDir = "/var/lib/redpanda/data"

// Redpanda's own ports on its node's container address (bridge network
// only: every node has its own address).
const (
	redpandaRPCPort   = 33145
	redpandaAdminPort = 9644
)

// kafkaProperties are node n's server properties in a cluster of nodes:
// KRaft combined mode with static voters, a PLAINTEXT listener advertised
// at the node's own address, replication defaults min(3,N) / min ISR
// min(2,N) (internal topics too), then set and nodeSet.
func kafkaProperties(n *node, nodes []*node, set, nodeSet map[string]string) map[string]string {
	voters := make([]string, len(nodes))
	for i, o := range nodes {
		voters[i] = fmt.Sprintf("%d@%s", o.id, o.addr(controllerIdx))
	}
	rf, isr := strconv.Itoa(min(3, len(nodes))), strconv.Itoa(min(2, len(nodes)))
	p := map[string]string{
		"node.id":                                  strconv.Itoa(int(n.id)),
		"process.roles":                            "broker,controller",
		"controller.quorum.voters":                 strings.Join(voters, ","),
		"controller.listener.names":                "CONTROLLER",
		"listeners":                                "PLAINTEXT://" + n.listener(clientIdx) + ",CONTROLLER://" + n.listener(controllerIdx),
		"advertised.listeners":                     "PLAINTEXT://" + n.addr(clientIdx),
		"listener.security.protocol.map":           "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
		"inter.broker.listener.name":               "PLAINTEXT",
		"broker.rack":                              n.rack,
		"log.dirs":                                 kafkaDataDir,
		"default.replication.factor":               rf,
		"min.insync.replicas":                      isr,
		"offsets.topic.replication.factor":         rf,
		"transaction.state.log.replication.factor": rf,
		"transaction.state.log.min.isr":            isr,
		"group.initial.rebalance.delay.ms":         "0",
	}
	for k, v := range set {
		p[k] = v
	}
	for k, v := range nodeSet {
		p[k] = v
	}
	return p
}

// kafkaEnv renders properties as the image's environment, plus CLUSTER_ID
// (the image formats the log directory with it on first start) and the
// JVM heap.
func kafkaEnv(props map[string]string, clusterID string, heapMB int) (map[string]string, error) {
	env := map[string]string{
		"CLUSTER_ID":      clusterID,
		"KAFKA_HEAP_OPTS": fmt.Sprintf("-Xms%dm -Xmx%dm", heapMB, heapMB),
	}
	for k, v := range props {
		name := kafkaEnvName(k)
		if kafkaReservedEnv[name] {
			return nil, fmt.Errorf("container: property %q maps to %s, which the apache/kafka image does not pass to the broker", k, name)
		}
		env[name] = v
	}
	return env, nil
}

// redpandaCommand is node n's `redpanda start` argument list: node id,
// every node as a seed (seed-driven bootstrap: the cluster forms once the
// seeds meet), Kafka and RPC listeners at the node's own address, one
// core, memoryFlag of memory, overprovisioned (no pinning on a shared
// host), then set as `--set key=value` in key order (rpk configuration
// paths such as redpanda.default_topic_replications; cluster properties
// under redpanda. are imported when the cluster first forms).
func redpandaCommand(n *node, nodes []*node, memoryFlag string, set, nodeSet map[string]string) []string {
	seeds := make([]string, len(nodes))
	for i, o := range nodes {
		seeds[i] = o.addr(controllerIdx)
	}
	props := map[string]string{
		"redpanda.rack":                       n.rack,
		"redpanda.enable_rack_awareness":      "true",
		"redpanda.default_topic_replications": strconv.Itoa(min(3, len(nodes))),
	}
	for k, v := range set {
		props[k] = v
	}
	for k, v := range nodeSet {
		props[k] = v
	}
	args := []string{"redpanda", "start",
		"--node-id", strconv.Itoa(int(n.id)),
		"--seeds", strings.Join(seeds, ","),
		"--kafka-addr", "PLAINTEXT://" + n.listener(clientIdx),
		"--advertise-kafka-addr", "PLAINTEXT://" + n.addr(clientIdx),
		"--rpc-addr", n.listener(controllerIdx),
		"--advertise-rpc-addr", n.addr(controllerIdx),
		"--smp", "1", "--memory", memoryFlag, "--reserve-memory", "0M",
		"--overprovisioned", "--check=false", "--default-log-level=info",
	}
	for _, k := range sortedKeys(props) {
		args = append(args, "--set", k+"="+props[k])
	}
	return args
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
