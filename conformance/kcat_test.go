package conformance

// Stock-client conformance, librdkafka side: the Debian kcat (kcat 1.7.1 on
// librdkafka 2.0.2) produces and consumes through the target with every
// codec, lists metadata, and consumes as a group member.
//
// This file also holds the helpers shared by the stock-client tests
// (kcat_test.go, python_test.go, java_test.go), prefixed "stock".

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// stockRequireEnv, when set, turns "client tool not installed" from a skip
// into a failure: CI sets it so a missing install step cannot pass green.
const stockRequireEnv = "HIGHWATER_REQUIRE_CLIENTS"

// stockMissing skips the test because a client tool is absent, or fails it
// when stockRequireEnv is set.
func stockMissing(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv(stockRequireEnv) != "" {
		t.Fatalf("%s (%s is set, so a missing client fails; conformance/deps.sh installs them)", msg, stockRequireEnv)
	}
	t.Skipf("%s (set %s to fail instead; conformance/deps.sh installs them)", msg, stockRequireEnv)
}

// stockLookPath finds a tool: the path in envVar if set, else the first of
// names on PATH. It calls stockMissing when none is found.
func stockLookPath(t *testing.T, envVar string, names ...string) string {
	t.Helper()
	if p := os.Getenv(envVar); p != "" {
		return p
	}
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	stockMissing(t, "none of %v on PATH and %s unset", names, envVar)
	return ""
}

// stockTopic returns a topic name unique to this run, so tests can share an
// external cluster (HIGHWATER_BOOTSTRAP) and be re-run against it.
func stockTopic(t *testing.T, prefix string) string {
	t.Helper()
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return prefix + "-" + hex.EncodeToString(b[:])
}

// stockCreateTopics creates topics with the given partition count and
// replication factor 1. A broker that cannot create topics this way is
// logged, not failed: the clients under test auto-create on first use, and
// this file tests the clients, not CreateTopics.
func stockCreateTopics(t *testing.T, bootstrap string, partitions int32, topics ...string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap))
	if err != nil {
		t.Fatalf("franz-go client: %v", err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resps, err := kadm.NewClient(cl).CreateTopics(ctx, partitions, 1, nil, topics...)
	if err != nil {
		t.Logf("CreateTopics %v: %v (relying on auto-creation)", topics, err)
		return
	}
	for _, r := range resps.Sorted() {
		if r.Err != nil && !errors.Is(r.Err, kerr.TopicAlreadyExists) {
			t.Logf("CreateTopics %s: %v (relying on auto-creation)", r.Topic, r.Err)
		}
	}
}

// stockRun runs a client process bounded by ctx, feeding it stdin, and
// returns its stdout and stderr. The process is killed when ctx ends, and
// WaitDelay bounds how long a stuck pipe can hold Wait after that.
func stockRun(ctx context.Context, t *testing.T, stdin []byte, name string, args ...string) (stdout, stderr []byte, err error) {
	t.Helper()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.WaitDelay = 5 * time.Second
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err = cmd.Run()
	t.Logf("ran %s %s (%v, err=%v)", name, strings.Join(args, " "), time.Since(start).Round(time.Millisecond), err)
	if ctx.Err() != nil && err != nil {
		err = fmt.Errorf("%w (context: %v)", err, ctx.Err())
	}
	return out.Bytes(), errb.Bytes(), err
}

// stockTail returns the last n lines of b, for failure messages.
func stockTail(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// kcatRun runs kcat; HIGHWATER_KCAT_DEBUG (librdkafka debug contexts, e.g.
// "protocol,broker,msg") adds -d to every call, for diagnosing a broker.
func kcatRun(ctx context.Context, t *testing.T, stdin []byte, kcat string, args ...string) (stdout, stderr []byte, err error) {
	t.Helper()
	if d := os.Getenv("HIGHWATER_KCAT_DEBUG"); d != "" {
		args = append([]string{"-d", d}, args...)
	}
	return stockRun(ctx, t, stdin, kcat, args...)
}

// kcatRecords is how many keyed records each kcat codec run produces.
const kcatRecords = 500

// kcatCodecs are kcat's -z values; "none" is the uncompressed baseline.
var kcatCodecs = []string{"none", "gzip", "snappy", "lz4", "zstd"}

// kcatPayload is the producer's stdin (key:value per line, for -K:) and
// the consumer's expected output for -f '%k=%s %o\n' on a fresh topic.
func kcatPayload(tag string, from, to int) (in []byte, want []string) {
	var b bytes.Buffer
	for i := from; i < to; i++ {
		fmt.Fprintf(&b, "k%04d:%s-v%04d\n", i, tag, i)
		want = append(want, fmt.Sprintf("k%04d=%s-v%04d %d", i, tag, i, i))
	}
	return b.Bytes(), want
}

// kcatProduce produces in to topic with codec and acks=all, failing the test
// on any delivery error (kcat reports those on stderr and in its exit code).
func kcatProduce(ctx context.Context, t *testing.T, kcat, bootstrap, topic, codec string, in []byte) {
	t.Helper()
	_, stderr, err := kcatRun(ctx, t, in, kcat, "-b", bootstrap, "-P", "-t", topic, "-K:",
		"-z", codec, "-X", "acks=all", "-X", "message.timeout.ms=30000")
	if err != nil || bytes.Contains(stderr, []byte("Delivery failed")) {
		t.Fatalf("kcat produce %s (-z %s): %v\n%s", topic, codec, err, stockTail(stderr, 20))
	}
}

// kcatLines splits kcat's consumer output into records, dropping the
// trailing empty line.
func kcatLines(out []byte) []string {
	s := strings.TrimRight(string(out), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// kcatCompare reports the first difference between got and want records.
func kcatCompare(t *testing.T, what string, got, want []string) {
	t.Helper()
	for i := 0; i < len(want) && i < len(got); i++ {
		if got[i] != want[i] {
			t.Fatalf("%s: record %d = %q, want %q (records must come back in offset order, unaltered)", what, i, got[i], want[i])
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%s: got %d records, want %d", what, len(got), len(want))
	}
}

func TestKcatProduceConsumeCodecs(t *testing.T) {
	kcat := stockLookPath(t, "HIGHWATER_KCAT", "kcat", "kafkacat")
	tgt := newTarget(t, nil)
	for _, codec := range kcatCodecs {
		t.Run(codec, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			topic := stockTopic(t, "kcat-"+codec)
			stockCreateTopics(t, tgt.Bootstrap, 1, topic)
			in, want := kcatPayload(codec, 0, kcatRecords)
			kcatProduce(ctx, t, kcat, tgt.Bootstrap, topic, codec, in)
			out, stderr, err := kcatRun(ctx, t, nil, kcat, "-b", tgt.Bootstrap, "-C", "-t", topic,
				"-e", "-o", "beginning", "-f", `%k=%s %o\n`)
			if err != nil {
				t.Fatalf("kcat consume %s: %v\n%s", topic, err, stockTail(stderr, 20))
			}
			kcatCompare(t, "kcat -C -z "+codec, kcatLines(out), want)
		})
	}
}

// kcatMetadata is the part of `kcat -L -J` output the test checks.
type kcatMetadata struct {
	Brokers []struct {
		ID   int32  `json:"id"`
		Name string `json:"name"`
	} `json:"brokers"`
	Topics []struct {
		Topic      string `json:"topic"`
		Error      string `json:"error"`
		Partitions []struct {
			Partition int32  `json:"partition"`
			Leader    int32  `json:"leader"`
			Error     string `json:"error"`
			Replicas  []struct {
				ID int32 `json:"id"`
			} `json:"replicas"`
		} `json:"partitions"`
	} `json:"topics"`
}

func TestKcatMetadata(t *testing.T) {
	kcat := stockLookPath(t, "HIGHWATER_KCAT", "kcat", "kafkacat")
	tgt := newTarget(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const partitions = 3
	topic := stockTopic(t, "kcat-md")
	stockCreateTopics(t, tgt.Bootstrap, partitions, topic)
	// One record makes sure the topic exists where CreateTopics was refused.
	in, _ := kcatPayload("md", 0, 1)
	kcatProduce(ctx, t, kcat, tgt.Bootstrap, topic, "none", in)

	out, stderr, err := kcatRun(ctx, t, nil, kcat, "-b", tgt.Bootstrap, "-L", "-J", "-t", topic)
	if err != nil {
		t.Fatalf("kcat -L: %v\n%s", err, stockTail(stderr, 20))
	}
	var md kcatMetadata
	if err := json.Unmarshal(out, &md); err != nil {
		t.Fatalf("kcat -L -J output is not JSON: %v\n%s", err, out)
	}
	if len(md.Brokers) == 0 {
		t.Fatalf("metadata lists no brokers: %s", out)
	}
	brokers := map[int32]bool{}
	for _, b := range md.Brokers {
		if b.Name == "" {
			t.Errorf("broker %d has no host:port: %s", b.ID, out)
		}
		brokers[b.ID] = true
	}
	if len(md.Topics) != 1 || md.Topics[0].Topic != topic || md.Topics[0].Error != "" {
		t.Fatalf("metadata for %s: want exactly that topic without error, got %s", topic, out)
	}
	parts := md.Topics[0].Partitions
	// Auto-creation may have made the topic with the broker's default
	// partition count; only an explicit create guarantees `partitions`.
	if len(parts) == 0 {
		t.Fatalf("topic %s has no partitions: %s", topic, out)
	}
	for _, p := range parts {
		if p.Error != "" || !brokers[p.Leader] || len(p.Replicas) == 0 {
			t.Errorf("partition %d: leader %d must be a listed broker, with replicas and no error: %s", p.Partition, p.Leader, out)
		}
	}
}

func TestKcatGroupConsumer(t *testing.T) {
	kcat := stockLookPath(t, "HIGHWATER_KCAT", "kcat", "kafkacat")
	tgt := newTarget(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	topic := stockTopic(t, "kcat-grp")
	group := stockTopic(t, "kcat-group")
	stockCreateTopics(t, tgt.Bootstrap, 1, topic)

	// consume joins the group, reads to the end of every assigned
	// partition (-e) and leaves; librdkafka commits its position on close.
	consume := func(what string) []string {
		t.Helper()
		out, stderr, err := kcatRun(ctx, t, nil, kcat, "-b", tgt.Bootstrap, "-G", group,
			"-X", "auto.offset.reset=earliest", "-e", "-f", `%k=%s %o\n`, topic)
		if err != nil {
			t.Fatalf("kcat -G %s (%s): %v\n%s", group, what, err, stockTail(stderr, 20))
		}
		return kcatLines(out)
	}

	in, want := kcatPayload("grp", 0, 100)
	kcatProduce(ctx, t, kcat, tgt.Bootstrap, topic, "none", in)
	kcatCompare(t, "kcat -G first member", consume("first"), want)

	// A new member of the same group resumes from the committed offset:
	// it sees only what was produced after the first member left.
	in, want = kcatPayload("grp", 100, 120)
	kcatProduce(ctx, t, kcat, tgt.Bootstrap, topic, "none", in)
	kcatCompare(t, "kcat -G second member (resume from commit)", consume("second"), want)
}
