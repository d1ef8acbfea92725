package conformance

// Stock-client conformance, Java side: Apache Kafka's own tools and client
// (jars from Maven Central via java/fetch.sh) against the target:
// ProducerPerformance (kafka-producer-perf-test) and ConsoleConsumer, and
// VerifiableProducer / VerifiableConsumer (the tools Kafka's own system
// tests use) with acks=all and the idempotent producer.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// javaHeap keeps each tool JVM small: two cores and several JVMs at once.
const javaHeap = "-Xmx256m"

// javaIdleTimeoutMs is how long ConsoleConsumer waits for a next record
// before giving up. Generous: on two busy cores the first group join and
// fetch can take tens of seconds, and a short limit reads as lost records.
const javaIdleTimeoutMs = "60000"

// javaLib returns the directory of Kafka's jars. HIGHWATER_KAFKA_LIB names
// one directly; otherwise java/fetch.sh provides it (a no-op once the cache
// is filled, a Maven download the first time). Missing java, or a fetch that
// fails, counts as a missing client.
func javaLib(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("java"); err != nil {
		stockMissing(t, "java not on PATH (Java 17 needed for Kafka 4 tools)")
	}
	if lib := os.Getenv("HIGHWATER_KAFKA_LIB"); lib != "" {
		return lib
	}
	fetch, err := filepath.Abs(filepath.Join("java", "fetch.sh"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	out, stderr, err := stockRun(ctx, t, nil, fetch)
	if err != nil {
		stockMissing(t, "java/fetch.sh could not provide Kafka's jars: %v\n%s", err, stockTail(stderr, 20))
	}
	lib := strings.TrimSpace(stockTail(out, 1))
	if _, err := os.Stat(filepath.Join(lib, "kafka-tools-"+javaKafkaVersion(t)+".jar")); err != nil {
		t.Fatalf("fetch.sh printed %q but it holds no kafka-tools jar: %v", lib, err)
	}
	return lib
}

// javaKafkaVersion reads the pinned Kafka version from java/pom.xml.
func javaKafkaVersion(t *testing.T) string {
	t.Helper()
	pom, err := os.ReadFile(filepath.Join("java", "pom.xml"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`<kafka.version>([^<]+)</kafka.version>`).FindSubmatch(pom)
	if m == nil {
		t.Fatal("java/pom.xml has no <kafka.version>")
	}
	return string(m[1])
}

// javaRun runs a Kafka tool class with a small heap and warnings-only
// logging (HIGHWATER_JAVA_LOG overrides the level), bounded by ctx.
func javaRun(ctx context.Context, t *testing.T, lib, class string, args ...string) (stdout, stderr []byte, err error) {
	t.Helper()
	level := "WARN"
	if l := os.Getenv("HIGHWATER_JAVA_LOG"); l != "" { // e.g. DEBUG, to see the client's requests
		level = l
	}
	all := append([]string{javaHeap, "-XX:+UseSerialGC", "-Dlog4j2.level=" + level,
		"-cp", filepath.Join(lib, "*"), class}, args...)
	return stockRun(ctx, t, nil, "java", all...)
}

// javaPropsFile writes client properties for --producer.config and the like.
func javaPropsFile(t *testing.T, name string, props map[string]string) string {
	t.Helper()
	var b strings.Builder
	for k, v := range props {
		fmt.Fprintf(&b, "%s=%s\n", k, v)
	}
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// javaPerfSummary matches ProducerPerformance's final line, e.g.
// "20000 records sent, 8123.5 records/sec (7.93 MB/sec), 1041.32 ms avg latency, ...".
// Only acknowledged sends are counted in it.
var javaPerfSummary = regexp.MustCompile(`(?m)^(\d+) records sent, ([0-9.]+) records/sec \(([0-9.]+) MB/sec\), ([0-9.]+) ms avg latency, ([0-9.]+) ms max latency`)

func TestJavaProducerPerfAndConsoleConsumer(t *testing.T) {
	lib := javaLib(t)
	tgt := newTarget(t, nil)
	const records, recordBytes = 20000, 1024
	topic := stockTopic(t, "java-perf")
	stockCreateTopics(t, tgt.Bootstrap, 1, topic)

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	out, stderr, err := javaRun(ctx, t, lib, "org.apache.kafka.tools.ProducerPerformance",
		"--topic", topic, "--num-records", strconv.Itoa(records), "--record-size", strconv.Itoa(recordBytes),
		"--throughput", "-1", "--producer-props", "bootstrap.servers="+tgt.Bootstrap, "acks=all")
	if err != nil {
		t.Fatalf("ProducerPerformance: %v\nstdout:\n%s\nstderr:\n%s", err, stockTail(out, 10), stockTail(stderr, 30))
	}
	m := javaPerfSummary.FindSubmatch(out)
	if m == nil {
		t.Fatalf("no summary line from ProducerPerformance:\n%s\nstderr:\n%s", stockTail(out, 10), stockTail(stderr, 30))
	}
	t.Logf("perf-test summary: %s", m[0])
	if n, _ := strconv.Atoi(string(m[1])); n != records {
		t.Fatalf("perf test acknowledged %d of %d records\nstderr:\n%s", n, records, stockTail(stderr, 30))
	}

	out, stderr, err = javaRun(ctx, t, lib, "org.apache.kafka.tools.consumer.ConsoleConsumer",
		"--bootstrap-server", tgt.Bootstrap, "--topic", topic, "--from-beginning",
		"--max-messages", strconv.Itoa(records), "--timeout-ms", javaIdleTimeoutMs)
	if err != nil {
		t.Fatalf("ConsoleConsumer: %v\nstderr:\n%s", err, stockTail(stderr, 30))
	}
	lines := 0
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 0, 4*recordBytes), 4*recordBytes)
	for sc.Scan() {
		if len(sc.Bytes()) != recordBytes {
			t.Fatalf("console consumer record %d is %d bytes, want %d", lines, len(sc.Bytes()), recordBytes)
		}
		lines++
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("reading console consumer output: %v", err)
	}
	if lines != records || !bytes.Contains(stderr, []byte(fmt.Sprintf("Processed a total of %d messages", records))) {
		t.Fatalf("console consumer read %d records, want %d\nstderr:\n%s", lines, records, stockTail(stderr, 30))
	}
}

// javaEvent is one JSON line of VerifiableProducer / VerifiableConsumer.
type javaEvent struct {
	Name       string          `json:"name"`
	Topic      string          `json:"topic"`
	Partition  int32           `json:"partition"`
	Offset     int64           `json:"offset"`
	Value      *string         `json:"value"`
	Exception  string          `json:"exception"`
	Message    string          `json:"message"`
	Sent       int64           `json:"sent"`
	Acked      int64           `json:"acked"`
	Success    *bool           `json:"success"`
	Error      string          `json:"error"`
	Offsets    []javaTPOffset  `json:"offsets"`
	Partitions json.RawMessage `json:"partitions"`
}

type javaTPOffset struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
}

// javaEvents parses the tools' JSON-lines stdout, skipping non-JSON lines.
func javaEvents(t *testing.T, out []byte) []javaEvent {
	t.Helper()
	var evs []javaEvent
	for _, line := range bytes.Split(out, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] != '{' {
			continue
		}
		var e javaEvent
		if err := json.Unmarshal(line, &e); err != nil {
			t.Fatalf("bad JSON event %q: %v", line, err)
		}
		evs = append(evs, e)
	}
	return evs
}

type javaTP struct {
	partition int32
	offset    int64
}

func TestJavaVerifiableProducerConsumer(t *testing.T) {
	lib := javaLib(t)
	tgt := newTarget(t, nil)
	const records, partitions = 3000, 3
	topic := stockTopic(t, "java-verifiable")
	group := stockTopic(t, "java-verifiable-group")
	stockCreateTopics(t, tgt.Bootstrap, partitions, topic)

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	// VerifiableProducer defaults to retries=0, which the idempotent
	// producer refuses; it needs retries and at most 5 requests in flight.
	producerProps := javaPropsFile(t, "producer.properties", map[string]string{
		"enable.idempotence":                    "true",
		"acks":                                  "all",
		"retries":                               "2147483647",
		"max.in.flight.requests.per.connection": "5",
	})
	out, stderr, err := javaRun(ctx, t, lib, "org.apache.kafka.tools.VerifiableProducer",
		"--bootstrap-server", tgt.Bootstrap, "--topic", topic, "--max-messages", strconv.Itoa(records),
		"--acks", "-1", "--producer.config", producerProps)
	if err != nil {
		t.Fatalf("VerifiableProducer: %v\nstderr:\n%s", err, stockTail(stderr, 30))
	}
	acked := map[javaTP]string{} // where each acknowledged value landed
	var toolData *javaEvent
	for _, e := range javaEvents(t, out) {
		switch e.Name {
		case "producer_send_success":
			if e.Value == nil {
				t.Fatalf("send success without a value: %+v", e)
			}
			tp := javaTP{e.Partition, e.Offset}
			if prev, dup := acked[tp]; dup {
				t.Fatalf("partition %d offset %d acknowledged twice (%q and %q): offsets must be unique", tp.partition, tp.offset, prev, *e.Value)
			}
			acked[tp] = *e.Value
		case "producer_send_error":
			t.Errorf("send error: %s %s (value %v)", e.Exception, e.Message, e.Value)
		case "tool_data":
			toolData = &e
		}
	}
	if toolData == nil || toolData.Sent != records || toolData.Acked != records || len(acked) != records {
		t.Fatalf("producer: tool_data %+v, %d distinct acks; want %d sent and acknowledged\nstderr:\n%s", toolData, len(acked), records, stockTail(stderr, 30))
	}

	out, stderr, err = javaRun(ctx, t, lib, "org.apache.kafka.tools.VerifiableConsumer",
		"--bootstrap-server", tgt.Bootstrap, "--topic", topic, "--group-id", group,
		"--max-messages", strconv.Itoa(records), "--reset-policy", "earliest", "--verbose")
	if err != nil {
		t.Fatalf("VerifiableConsumer: %v\nstderr:\n%s", err, stockTail(stderr, 30))
	}
	javaCheckConsumed(t, javaEvents(t, out), acked, stderr)
}

// javaCheckConsumed checks the consumer's events: every acknowledged record
// read back with its value, each exactly once, every commit successful, and
// the last commit per partition just past the highest acknowledged offset.
func javaCheckConsumed(t *testing.T, evs []javaEvent, acked map[javaTP]string, stderr []byte) {
	t.Helper()
	seen := map[javaTP]bool{}
	committed := map[int32]int64{}
	for _, e := range evs {
		switch e.Name {
		case "record_data":
			tp := javaTP{e.Partition, e.Offset}
			want, ok := acked[tp]
			if !ok {
				t.Fatalf("consumed partition %d offset %d, which the producer never had acknowledged", tp.partition, tp.offset)
			}
			if e.Value == nil || *e.Value != want {
				t.Fatalf("partition %d offset %d: consumed %v, acknowledged %q", tp.partition, tp.offset, e.Value, want)
			}
			if seen[tp] {
				t.Fatalf("partition %d offset %d consumed twice by a lone group member", tp.partition, tp.offset)
			}
			seen[tp] = true
		case "offsets_committed":
			if e.Success == nil || !*e.Success {
				t.Errorf("offset commit failed: %s %+v", e.Error, e.Offsets)
			}
			for _, o := range e.Offsets {
				committed[o.Partition] = o.Offset
			}
		}
	}
	next := map[int32]int64{}
	for tp := range acked {
		if !seen[tp] {
			t.Errorf("acknowledged record at partition %d offset %d never consumed", tp.partition, tp.offset)
		}
		if tp.offset+1 > next[tp.partition] {
			next[tp.partition] = tp.offset + 1
		}
	}
	for p, want := range next {
		if committed[p] != want {
			t.Errorf("partition %d: last commit %d, want %d (one past the last record consumed)", p, committed[p], want)
		}
	}
	if t.Failed() {
		t.Logf("consumer stderr:\n%s", stockTail(stderr, 30))
	}
}

// javaFreePortPair finds a port p on 127.0.0.1 with p+1 also free, for
// kafka-single.sh (broker on p, controller on p+1).
func javaFreePortPair(t *testing.T) int {
	t.Helper()
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := l.Addr().(*net.TCPAddr).Port
		l2, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p+1))
		l.Close()
		if err == nil {
			l2.Close()
			return p
		}
	}
	t.Fatal("no two consecutive free ports on 127.0.0.1")
	return 0
}

// TestJavaKafkaSingleScript keeps java/kafka-single.sh working: it starts a
// real Apache Kafka KRaft node, produces to it with the idempotent
// VerifiableProducer, restarts it (the log must survive), reads everything
// back with ConsoleConsumer and stops it. Benchmarks and the Kafka driver
// rely on the script; the stock-client tests run against such a node with
// HIGHWATER_BOOTSTRAP.
func TestJavaKafkaSingleScript(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a JVM Kafka node (about 10 s); skipped in -short")
	}
	if kafkaPass() {
		t.Skip("tests the script, not the target: runs in the reference pass")
	}
	lib := javaLib(t)
	script, err := filepath.Abs(filepath.Join("java", "kafka-single.sh"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	port := javaFreePortPair(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	env := append(os.Environ(), "KAFKA_HEAP=512m", "HIGHWATER_KAFKA_LIB="+lib)
	script1 := func(args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(ctx, script, args...)
		cmd.Env = env
		cmd.WaitDelay = 5 * time.Second
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("kafka-single.sh %v: %v\n%s", args, err, stockTail(errb.Bytes(), 30))
		}
		return strings.TrimSpace(out.String())
	}
	t.Cleanup(func() {
		stop := exec.Command(script, "stop", dir)
		stop.Env = env
		_ = stop.Run()
	})
	bootstrap := script1("start", dir, strconv.Itoa(port))
	if want := fmt.Sprintf("127.0.0.1:%d", port); bootstrap != want {
		t.Fatalf("start printed %q, want the bootstrap %q", bootstrap, want)
	}

	const records = 200
	topic := stockTopic(t, "java-single")
	props := javaPropsFile(t, "producer.properties", map[string]string{
		"enable.idempotence": "true", "acks": "all", "retries": "2147483647",
	})
	out, stderr, err := javaRun(ctx, t, lib, "org.apache.kafka.tools.VerifiableProducer",
		"--bootstrap-server", bootstrap, "--topic", topic, "--max-messages", strconv.Itoa(records),
		"--acks", "-1", "--producer.config", props)
	if err != nil {
		t.Fatalf("VerifiableProducer: %v\n%s", err, stockTail(stderr, 30))
	}
	acks := 0
	for _, e := range javaEvents(t, out) {
		if e.Name == "producer_send_success" {
			acks++
		}
	}
	if acks != records {
		t.Fatalf("%d of %d records acknowledged by Kafka\n%s", acks, records, stockTail(stderr, 30))
	}

	script1("stop", dir)
	if st := exec.Command(script, "status", dir); st.Run() == nil {
		t.Fatal("status says running after stop")
	}
	if again := script1("start", dir, strconv.Itoa(port)); again != bootstrap {
		t.Fatalf("restart printed %q, want %q", again, bootstrap)
	}
	_, stderr, err = javaRun(ctx, t, lib, "org.apache.kafka.tools.consumer.ConsoleConsumer",
		"--bootstrap-server", bootstrap, "--topic", topic, "--from-beginning",
		"--max-messages", strconv.Itoa(records), "--timeout-ms", javaIdleTimeoutMs)
	if err != nil || !bytes.Contains(stderr, []byte(fmt.Sprintf("Processed a total of %d messages", records))) {
		t.Fatalf("after restart, ConsoleConsumer: %v\n%s", err, stockTail(stderr, 30))
	}
}
