package config

import (
	"fmt"
	"math"
	"net"
	"slices"
	"strconv"
	"strings"
)

// Type is a config value's type, numbered as Kafka's DescribeConfigs v3+
// reports it.
type Type int8

const (
	TypeBoolean Type = 1
	TypeString  Type = 2
	TypeInt     Type = 3
	TypeShort   Type = 4
	TypeLong    Type = 5
	TypeDouble  Type = 6
	TypeList    Type = 7
)

// Def describes one configuration key.
type Def struct {
	Name    string
	Type    Type
	Default string // "" with HasDefault false means "no default" (null in Kafka)
	// HasDefault distinguishes an empty-string default from none.
	HasDefault bool
	// BrokerSynonym is, for a topic key, the broker key whose value applies
	// when the topic sets none (retention.ms ← log.retention.ms).
	BrokerSynonym string
	Doc           string
	// check validates a value already known to parse as Type.
	check func(string) error
}

// Validate checks a value against the key's type and constraints.
func (d *Def) Validate(value string) error {
	if err := checkType(d.Type, value); err != nil {
		return fmt.Errorf("invalid value %q for configuration %s: %w", value, d.Name, err)
	}
	if d.check != nil {
		if err := d.check(value); err != nil {
			return fmt.Errorf("invalid value %q for configuration %s: %w", value, d.Name, err)
		}
	}
	return nil
}

func checkType(t Type, v string) error {
	switch t {
	case TypeBoolean:
		if v != "true" && v != "false" {
			return fmt.Errorf("expected true or false")
		}
	case TypeInt:
		if _, err := strconv.ParseInt(v, 10, 32); err != nil {
			return fmt.Errorf("expected a 32-bit integer")
		}
	case TypeShort:
		if _, err := strconv.ParseInt(v, 10, 16); err != nil {
			return fmt.Errorf("expected a 16-bit integer")
		}
	case TypeLong:
		if _, err := strconv.ParseInt(v, 10, 64); err != nil {
			return fmt.Errorf("expected a 64-bit integer")
		}
	case TypeDouble:
		if _, err := strconv.ParseFloat(v, 64); err != nil {
			return fmt.Errorf("expected a number")
		}
	}
	return nil
}

func atLeast(min int64) func(string) error {
	return func(v string) error {
		n, _ := strconv.ParseInt(v, 10, 64)
		if n < min {
			return fmt.Errorf("value must be at least %d", min)
		}
		return nil
	}
}

func between(min, max int64) func(string) error {
	return func(v string) error {
		n, _ := strconv.ParseInt(v, 10, 64)
		if n < min || n > max {
			return fmt.Errorf("value must be between %d and %d", min, max)
		}
		return nil
	}
}

func oneOf(values ...string) func(string) error {
	return func(v string) error {
		if !slices.Contains(values, v) {
			return fmt.Errorf("expected one of %s", strings.Join(values, ", "))
		}
		return nil
	}
}

// cleanupPolicy accepts Kafka's cleanup.policy: a non-empty list of
// delete and compact.
func cleanupPolicy(v string) error {
	for _, p := range strings.Split(v, ",") {
		switch strings.TrimSpace(p) {
		case "delete", "compact":
		default:
			return fmt.Errorf("String must be one of: compact, delete")
		}
	}
	return nil
}

// CleanupPolicy splits a (validated) cleanup.policy value: whether
// segments are deleted by retention and whether the log is compacted.
func CleanupPolicy(v string) (deleteSegments, compact bool) {
	for _, p := range strings.Split(v, ",") {
		switch strings.TrimSpace(p) {
		case "delete":
			deleteSegments = true
		case "compact":
			compact = true
		}
	}
	return deleteSegments, compact
}

// ratio accepts a number from 0 to 1 (min.cleanable.dirty.ratio).
func ratio(v string) error {
	f, _ := strconv.ParseFloat(v, 64)
	if f < 0 || f > 1 {
		return fmt.Errorf("value must be between 0 and 1")
	}
	return nil
}

// hostPort accepts host:port with a port from 0 to 65535.
func hostPort(v string) error {
	_, port, err := net.SplitHostPort(v)
	if err != nil {
		return fmt.Errorf("expected host:port: %w", err)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("port %q is not from 0 to 65535", port)
	}
	return nil
}

var compressionTypes = []string{"uncompressed", "none", "gzip", "snappy", "lz4", "zstd", "producer"}

var maxLong = strconv.FormatInt(math.MaxInt64, 10)

// brokerDefs are the broker keys this broker understands, with Kafka's
// defaults.
var brokerDefs = []*Def{
	{Name: "node.id", Type: TypeInt, Default: "1", HasDefault: true, check: atLeast(0), Doc: "this node's id"},
	{Name: "broker.id", Type: TypeInt, Default: "-1", HasDefault: true, Doc: "legacy alias of node.id"},
	{Name: "listeners", Type: TypeList, Default: "PLAINTEXT://127.0.0.1:9092", HasDefault: true, Doc: "listener URIs to bind"},
	{Name: "advertised.listeners", Type: TypeList, Doc: "listener URIs given to clients; defaults to listeners"},
	{Name: "log.dirs", Type: TypeList, Doc: "data directories (only the first is used)"},
	{Name: "log.dir", Type: TypeString, Default: "/tmp/highwater-logs", HasDefault: true, Doc: "data directory when log.dirs is unset"},
	{Name: "num.partitions", Type: TypeInt, Default: "1", HasDefault: true, check: atLeast(1)},
	{Name: "default.replication.factor", Type: TypeInt, Default: "1", HasDefault: true, check: atLeast(1)},
	{Name: "auto.create.topics.enable", Type: TypeBoolean, Default: "true", HasDefault: true},
	{Name: "log.segment.bytes", Type: TypeInt, Default: "1073741824", HasDefault: true, check: atLeast(14)},
	{Name: "log.roll.ms", Type: TypeLong, check: atLeast(1)},
	{Name: "log.roll.hours", Type: TypeInt, Default: "168", HasDefault: true, check: atLeast(1)},
	{Name: "log.retention.ms", Type: TypeLong, check: atLeast(-1)},
	{Name: "log.retention.minutes", Type: TypeInt},
	{Name: "log.retention.hours", Type: TypeInt, Default: "168", HasDefault: true},
	{Name: "log.retention.bytes", Type: TypeLong, Default: "-1", HasDefault: true},
	{Name: "log.retention.check.interval.ms", Type: TypeLong, Default: "300000", HasDefault: true, check: atLeast(1)},
	{Name: "log.index.interval.bytes", Type: TypeInt, Default: "4096", HasDefault: true, check: atLeast(0)},
	{Name: "log.cleanup.policy", Type: TypeList, Default: "delete", HasDefault: true, check: cleanupPolicy},
	{Name: "log.cleaner.enable", Type: TypeBoolean, Default: "true", HasDefault: true, Doc: "run the log cleaner (compaction)"},
	{Name: "log.cleaner.threads", Type: TypeInt, Default: "1", HasDefault: true, check: atLeast(0), Doc: "cleaner goroutines; two never clean the same log at once (0: no compaction)"},
	{Name: "log.cleaner.backoff.ms", Type: TypeLong, Default: "15000", HasDefault: true, check: atLeast(0), Doc: "sleep between cleaning passes when no log needs cleaning"},
	{Name: "log.cleaner.dedupe.buffer.size", Type: TypeLong, Default: "134217728", HasDefault: true, check: atLeast(1), Doc: "memory for the key map of one pass (24 bytes per key, as Kafka counts)"},
	{Name: "log.cleaner.min.cleanable.ratio", Type: TypeDouble, Default: "0.5", HasDefault: true, check: ratio},
	{Name: "log.cleaner.delete.retention.ms", Type: TypeLong, Default: "86400000", HasDefault: true, check: atLeast(0)},
	{Name: "log.cleaner.min.compaction.lag.ms", Type: TypeLong, Default: "0", HasDefault: true, check: atLeast(0)},
	{Name: "log.cleaner.max.compaction.lag.ms", Type: TypeLong, Default: maxLong, HasDefault: true, check: atLeast(1)},
	{Name: "log.message.timestamp.type", Type: TypeString, Default: "CreateTime", HasDefault: true, check: oneOf("CreateTime", "LogAppendTime")},
	{Name: "message.max.bytes", Type: TypeInt, Default: "1048588", HasDefault: true, check: atLeast(0)},
	{Name: "socket.request.max.bytes", Type: TypeInt, Default: "104857600", HasDefault: true, check: atLeast(1)},
	{Name: "log.flush.interval.messages", Type: TypeLong, Default: maxLong, HasDefault: true, check: atLeast(1)},
	{Name: "log.flush.interval.ms", Type: TypeLong, check: atLeast(0)},
	{Name: "log.flush.scheduler.interval.ms", Type: TypeLong, Default: maxLong, HasDefault: true},
	{Name: "compression.type", Type: TypeString, Default: "producer", HasDefault: true, check: oneOf(compressionTypes...)},
	{Name: "min.insync.replicas", Type: TypeInt, Default: "1", HasDefault: true, check: atLeast(1)},
	{Name: "unclean.leader.election.enable", Type: TypeBoolean, Default: "false", HasDefault: true},
	{Name: "broker.rack", Type: TypeString},
	// Not a Kafka key (Kafka exports metrics through JMX agents): where to
	// serve Prometheus /metrics, host:port (port 0 picks one); unset: off.
	{Name: "highwater.metrics.listener", Type: TypeString, check: hostPort, Doc: "host:port serving Prometheus /metrics; unset disables it"},
	// Fault seams for the chaos harness (broker/internal/faults documents
	// them). Off by default; none of them is safe in production.
	{Name: "highwater.fault.page.cache", Type: TypeBoolean, Default: "false", HasDefault: true,
		Doc: "keep log, index and checkpoint writes in process memory until fsync, so kill -9 loses unsynced writes (power-loss semantics)"},
	{Name: "highwater.fault.endpoints", Type: TypeBoolean, Default: "false", HasDefault: true,
		Doc: "serve /fault/clock on highwater.metrics.listener to skew this broker's clock"},
	{Name: "highwater.fault.replica.fetch.delay.ms", Type: TypeLong, Default: "0", HasDefault: true, check: atLeast(0),
		Doc: "delay every follower fetch by this many ms (a slow replication link); 0: off"},
	{Name: "highwater.fault.replica.restart.delay.ms", Type: TypeLong, Default: "0", HasDefault: true, check: between(0, 600000),
		Doc: "a broker restarting over existing logs sends no follower fetch for this many ms after it starts (its replicas stay out of sync); 0: off"},
	{Name: "highwater.fault.produce.answer.delay.ms", Type: TypeLong, Default: "0", HasDefault: true, check: between(0, 60000),
		Doc: "hold every Produce answer that appended records this many ms after the append (a slow answer path); 0: off"},
	// Not a Kafka key (Kafka finalizes features through its metadata log):
	// the transaction.version feature level this broker finalizes in
	// ApiVersions. 1 is the pre-KIP-890-part-2 protocol; 2 (the default,
	// as in Apache Kafka 4.x) lets clients take KIP-890 part 2 (an epoch
	// bump per transaction, partitions added by the produce path).
	{Name: "highwater.transaction.version", Type: TypeShort, Default: "2", HasDefault: true, check: oneOf("1", "2"),
		Doc: "transaction.version finalized in ApiVersions: 1 (pre-KIP-890 part 2) or 2 (KIP-890 part 2)"},
	{Name: "highwater.planted.bug", Type: TypeString, Default: "", HasDefault: true,
		Doc: "UNSAFE: comma-separated planted bugs for the checker self-test (broker/internal/faults); empty: none"},
	{Name: "group.initial.rebalance.delay.ms", Type: TypeInt, Default: "3000", HasDefault: true, check: atLeast(0)},
	{Name: "group.min.session.timeout.ms", Type: TypeInt, Default: "6000", HasDefault: true},
	{Name: "group.max.session.timeout.ms", Type: TypeInt, Default: "1800000", HasDefault: true},
	{Name: "offsets.retention.minutes", Type: TypeInt, Default: "10080", HasDefault: true, check: atLeast(1)},
	{Name: "offsets.topic.num.partitions", Type: TypeInt, Default: "50", HasDefault: true, check: atLeast(1)},
	{Name: "offsets.topic.replication.factor", Type: TypeShort, Default: "3", HasDefault: true, check: atLeast(1)},
	{Name: "offsets.topic.segment.bytes", Type: TypeInt, Default: "104857600", HasDefault: true, check: atLeast(1)},
	{Name: "transaction.state.log.replication.factor", Type: TypeShort, Default: "3", HasDefault: true, check: atLeast(1)},
	{Name: "transaction.state.log.min.isr", Type: TypeInt, Default: "2", HasDefault: true, check: atLeast(1)},
	{Name: "transaction.state.log.num.partitions", Type: TypeInt, Default: "50", HasDefault: true, check: atLeast(1)},
	{Name: "transaction.state.log.segment.bytes", Type: TypeInt, Default: "104857600", HasDefault: true, check: atLeast(1)},
	{Name: "transaction.max.timeout.ms", Type: TypeInt, Default: "900000", HasDefault: true, check: atLeast(1), Doc: "the largest transaction.timeout.ms a producer may ask for"},
	{Name: "transactional.id.expiration.ms", Type: TypeInt, Default: "604800000", HasDefault: true, check: atLeast(1), Doc: "how long an idle transactional id's state is kept"},
	{Name: "transaction.abort.timed.out.transaction.cleanup.interval.ms", Type: TypeInt, Default: "10000", HasDefault: true, check: atLeast(1)},
	{Name: "transaction.remove.expired.transaction.cleanup.interval.ms", Type: TypeInt, Default: "3600000", HasDefault: true, check: atLeast(1)},
	{Name: "delete.topic.enable", Type: TypeBoolean, Default: "true", HasDefault: true},
	{Name: "producer.id.expiration.ms", Type: TypeInt, Default: "86400000", HasDefault: true, check: atLeast(1), Doc: "how long an idle idempotent producer's state is kept"},
	{Name: "producer.id.expiration.check.interval.ms", Type: TypeInt, Default: "600000", HasDefault: true, check: atLeast(1)},
}

// topicDefs are the per-topic keys, each with the broker key it falls back to.
var topicDefs = []*Def{
	{Name: "cleanup.policy", Type: TypeList, BrokerSynonym: "log.cleanup.policy", check: cleanupPolicy},
	{Name: "compression.type", Type: TypeString, BrokerSynonym: "compression.type", check: oneOf(compressionTypes...)},
	{Name: "delete.retention.ms", Type: TypeLong, BrokerSynonym: "log.cleaner.delete.retention.ms", check: atLeast(0)},
	{Name: "flush.messages", Type: TypeLong, BrokerSynonym: "log.flush.interval.messages", check: atLeast(1)},
	{Name: "flush.ms", Type: TypeLong, BrokerSynonym: "log.flush.interval.ms", check: atLeast(0)},
	{Name: "index.interval.bytes", Type: TypeInt, BrokerSynonym: "log.index.interval.bytes", check: atLeast(0)},
	{Name: "max.compaction.lag.ms", Type: TypeLong, BrokerSynonym: "log.cleaner.max.compaction.lag.ms", check: atLeast(1)},
	{Name: "max.message.bytes", Type: TypeInt, BrokerSynonym: "message.max.bytes", check: atLeast(0)},
	{Name: "message.timestamp.type", Type: TypeString, BrokerSynonym: "log.message.timestamp.type", check: oneOf("CreateTime", "LogAppendTime")},
	{Name: "min.cleanable.dirty.ratio", Type: TypeDouble, BrokerSynonym: "log.cleaner.min.cleanable.ratio", check: ratio},
	{Name: "min.compaction.lag.ms", Type: TypeLong, BrokerSynonym: "log.cleaner.min.compaction.lag.ms", check: atLeast(0)},
	{Name: "min.insync.replicas", Type: TypeInt, BrokerSynonym: "min.insync.replicas", check: atLeast(1)},
	{Name: "retention.bytes", Type: TypeLong, BrokerSynonym: "log.retention.bytes"},
	{Name: "retention.ms", Type: TypeLong, BrokerSynonym: "log.retention.ms", check: atLeast(-1)},
	{Name: "segment.bytes", Type: TypeInt, BrokerSynonym: "log.segment.bytes", check: atLeast(14)},
	{Name: "segment.ms", Type: TypeLong, BrokerSynonym: "log.roll.ms", check: atLeast(1)},
	{Name: "unclean.leader.election.enable", Type: TypeBoolean, BrokerSynonym: "unclean.leader.election.enable"},
}

var brokerByName, topicByName = index(brokerDefs), index(topicDefs)

func index(defs []*Def) map[string]*Def {
	m := make(map[string]*Def, len(defs))
	for _, d := range defs {
		m[d.Name] = d
	}
	return m
}

// BrokerDef looks up a broker key.
func BrokerDef(name string) (*Def, bool) { d, ok := brokerByName[name]; return d, ok }

// TopicDef looks up a topic key.
func TopicDef(name string) (*Def, bool) { d, ok := topicByName[name]; return d, ok }

// TopicDefs lists the topic keys in name order.
func TopicDefs() []*Def { return topicDefs }

// BrokerDefs lists the broker keys.
func BrokerDefs() []*Def { return brokerDefs }
