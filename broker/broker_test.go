package broker

import (
	"strings"
	"testing"
)

func props(dir string, kv ...string) map[string]string {
	m := map[string]string{"listeners": "PLAINTEXT://127.0.0.1:0", "log.dirs": dir}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

// An invalid value stops the broker before it listens, naming the key.
func TestInvalidConfigStopsBeforeListening(t *testing.T) {
	cases := map[string][]string{
		"num.partitions":           {"num.partitions", "zero"},
		"log.segment.bytes":        {"log.segment.bytes", "1"},
		"listeners":                {"listeners", "SSL://127.0.0.1:9093"},
		"compression.type":         {"compression.type", "brotli"},
		"socket.request.max.bytes": {"socket.request.max.bytes", "-5"},
	}
	for key, kv := range cases {
		cfg := DefaultConfig()
		cfg.Properties = props(t.TempDir(), kv...)
		b, err := New(cfg)
		if err == nil {
			b.Close()
			t.Errorf("%s=%s: broker started", kv[0], kv[1])
			continue
		}
		if !strings.Contains(err.Error(), key) {
			t.Errorf("%s=%s: error %q does not name the key", kv[0], kv[1], err)
		}
	}
}

func TestUnknownKeysWarn(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Properties = props(t.TempDir(), "num.network.threads", "3")
	warnings, err := cfg.Validate()
	if err != nil || len(warnings) != 1 || !strings.Contains(warnings[0], "num.network.threads") {
		t.Fatalf("warnings %v, err %v", warnings, err)
	}
}

// Two brokers never share a data directory, and a directory keeps the
// node.id it was created with.
func TestDataDirOwnership(t *testing.T) {
	dir := t.TempDir()
	cfg := DefaultConfig()
	cfg.Properties = props(dir)
	first, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if second, err := New(cfg); err == nil {
		second.Close()
		t.Fatal("a second broker opened a locked data directory")
	}
	clusterID := first.ClusterID()
	first.Close()

	again, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if again.ClusterID() != clusterID {
		t.Errorf("cluster id changed across restart: %s then %s", clusterID, again.ClusterID())
	}
	again.Close()

	cfg.Properties = props(dir, "node.id", "7")
	if b, err := New(cfg); err == nil {
		b.Close()
		t.Fatal("a broker with another node.id opened the data directory")
	} else if !strings.Contains(err.Error(), "node.id") {
		t.Errorf("error %q does not explain the node.id mismatch", err)
	}
}

// GroupPartition must place groups exactly as Kafka does, so a future
// multi-node coordinator and Kafka tooling agree on __consumer_offsets.
func TestGroupPartitionMatchesJavaHashCode(t *testing.T) {
	// Expected values computed with Java's String.hashCode and Math.abs.
	for group, want := range map[string]int32{
		"test-group":             12, // hash 627841412
		"console-consumer-50123": 22,
		"orders-processor":       44,
		"é-group-😀":              9, // negative hash -2060962859, a surrogate pair
	} {
		if got := GroupPartition(group, 50); got != want {
			t.Errorf("GroupPartition(%q, 50) = %d, want %d", group, got, want)
		}
	}
	if got := GroupPartition("", 50); got != 0 {
		t.Errorf("empty group on partition %d, want 0", got)
	}
}
