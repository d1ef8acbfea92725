package reference

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/highwater-io/highwater/harness/cluster"
	"github.com/highwater-io/highwater/harness/internal/clustertesting"
)

// TestProxyLinks: in Proxy mode the cluster forms through the controller
// proxies, clients bootstrap and fetch through the client proxies, a slow
// leader makes acks=all produce slower, a lossy node still lets the
// cluster serve, and restoring brings latency back and the ISR to 3.
func TestProxyLinks(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts a 3-node cluster")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := New(ctx, Config{Binary: buildBinary(ctx, t), Dir: t.TempDir(), Nodes: 3, Proxy: true, Seed: 1, Set: map[string]string{
		"broker.session.timeout.ms":    strconv.Itoa(int(sessionTimeout.Milliseconds())),
		"broker.heartbeat.interval.ms": "500",
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	for _, n := range c.Nodes() {
		if n.Addr == c.nodes[n.ID-1].client {
			t.Fatalf("node %d: clients reach %s directly, not through a proxy", n.ID, n.Addr)
		}
	}
	for _, kind := range []string{cluster.LinkSlow, cluster.LinkLossy} {
		if err := c.LinksAvailable(kind); err != nil {
			t.Errorf("LinksAvailable(%s) = %v", kind, err)
		}
	}
	if err := c.UnsyncedLossAvailable(); !errors.Is(err, cluster.ErrUnavailable) || !strings.Contains(err.Error(), pageCacheKey) {
		t.Errorf("UnsyncedLossAvailable without the page cache = %v", err)
	}
	t.Logf("ClocksAvailable: %v", c.ClocksAvailable())

	adm := clustertesting.Admin(t, c)
	defer adm.Close()
	const topic = "t"
	clustertesting.CreateTopic(ctx, t, adm, topic, 1, 20*time.Second)
	timed := func(prefix string) ([]string, time.Duration) {
		began := time.Now()
		v := clustertesting.Produce(ctx, t, c, topic, 20, prefix)
		return v, time.Since(began)
	}
	want, fast := timed("a")
	leaders, err := c.Leaders(ctx)
	if err != nil {
		t.Fatal(err)
	}
	leader := leaders[cluster.TopicPartition{Topic: topic}]
	if err := c.SlowLinks(ctx, leader, 300*time.Millisecond, 0, 0); err != nil {
		t.Fatal(err)
	}
	more, slow := timed("b")
	want = append(want, more...)
	if slow < 600*time.Millisecond {
		t.Errorf("20 acks=all records took %v with the leader's links delayed 300 ms (%v before)", slow, fast)
	}
	if err := c.RestoreLinks(ctx, leader); err != nil {
		t.Fatal(err)
	}
	if err := c.LossyLinks(ctx, leader%3+1, 5); err != nil {
		t.Fatal(err)
	}
	more, lossy := timed("c")
	want = append(want, more...)
	if err := c.RestoreLinks(ctx, leader%3+1); err != nil {
		t.Fatal(err)
	}
	t.Logf("20 acks=all records: %v plain, %v with the leader slowed, %v with node %d lossy", fast, slow, lossy, leader%3+1)
	if err := clustertesting.WaitISR(ctx, adm, topic, 3, 30*time.Second); err != nil {
		t.Fatalf("ISR not back to 3: %v", err)
	}
	clustertesting.ConsumeExpect(ctx, t, c, topic, want)
	if err := c.LossyLinks(ctx, 1, 0); err == nil {
		t.Error("0% loss accepted")
	}

	// Unprivileged partition: isolating the leader through the proxies
	// moves leadership; healing brings the ISR back.
	nw, err := cluster.NetworkOf(c)
	if err != nil {
		t.Fatal(err)
	}
	tp0 := cluster.TopicPartition{Topic: topic}
	if leaders, err = c.Leaders(ctx); err != nil {
		t.Fatal(err)
	}
	victim := leaders[tp0]
	cut := time.Now()
	if err := cluster.Isolate(ctx, c, nw, victim); err != nil {
		t.Fatal(err)
	}
	_, err = clustertesting.NewLeader(ctx, c, tp0, victim, sessionTimeout+3*failoverSlack)
	if err != nil {
		t.Fatalf("leadership did not leave isolated node %d: %v", victim, err)
	}
	t.Logf("isolated leader %d through the proxies; moved after %v", victim, time.Since(cut).Round(time.Millisecond))
	if _, err := c.directs[victim-1].Metadata(ctx); err != nil {
		t.Errorf("isolated node %d does not answer the harness: %v", victim, err)
	}
	// No produce while cut off: a new idempotent producer may ask the
	// isolated node for a producer id, which it cannot get from the
	// quorum (the broker answers UNKNOWN_SERVER_ERROR there).
	if err := nw.HealAll(ctx); err != nil {
		t.Fatal(err)
	}
	if err := clustertesting.WaitISR(ctx, adm, topic, 3, 60*time.Second); err != nil {
		t.Fatalf("ISR not back to 3 after heal: %v", err)
	}
	want = append(want, clustertesting.Produce(ctx, t, c, topic, 20, "d")...)
	clustertesting.ConsumeExpect(ctx, t, c, topic, want)
}

func TestKafkaClientID(t *testing.T) {
	real := kmsg.NewRequestFormatter(kmsg.FormatterClientID("highwater-replica-2"))
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = 3
	req.ClientSoftwareName, req.ClientSoftwareVersion = "kgo", "1"
	for _, tc := range []struct {
		name string
		b    []byte
		want string
	}{
		{"ApiVersions v3 from kgo", real.AppendRequest(nil, req, 1), "highwater-replica-2"},
		{"null client id", []byte{0, 0, 0, 10, 0, 18, 0, 0, 0, 0, 0, 1, 0xff, 0xff}, ""},
		{"truncated", []byte{0, 0, 0, 10, 0, 18, 0, 0, 0, 0, 0, 1, 0, 9, 'a'}, ""},
		{"short", []byte{1, 2, 3}, ""},
		{"empty", nil, ""},
	} {
		if got := kafkaClientID(tc.b); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestLinksUnavailableWithoutMode: a plain cluster says how to get link
// faults; NetNS and Proxy together are refused.
func TestLinksUnavailableWithoutMode(t *testing.T) {
	c := &Cluster{}
	for _, kind := range []string{cluster.LinkSlow, cluster.LinkLossy} {
		if err := c.LinksAvailable(kind); !errors.Is(err, cluster.ErrUnavailable) || !strings.Contains(err.Error(), "Proxy") {
			t.Errorf("LinksAvailable(%s) = %v", kind, err)
		}
	}
	if _, err := (Config{Nodes: 3, Dir: t.TempDir(), Binary: "/bin/true", NetNS: true, Proxy: true}).withDefaults(); err == nil {
		t.Error("NetNS with Proxy accepted")
	}
}

// TestClockSkewAndPageCache: one node with the page cache on: the clock
// endpoint sets, reports and resets the offset; a killed node needs no
// reset; lost-unsynced is available.
func TestClockSkewAndPageCache(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := New(ctx, Config{Binary: buildBinary(ctx, t), Dir: t.TempDir(), Set: map[string]string{pageCacheKey: "true"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	if err := c.UnsyncedLossAvailable(); err != nil {
		t.Errorf("UnsyncedLossAvailable = %v", err)
	}
	if err := c.ClocksAvailable(); err != nil {
		t.Fatalf("ClocksAvailable = %v", err)
	}
	for _, off := range []time.Duration{time.Hour, -90 * time.Second} {
		if err := c.SkewClock(ctx, 1, off); err != nil {
			t.Fatal(err)
		}
		if got, err := c.faults.clock.Offset(ctx, 1); err != nil || got != off {
			t.Errorf("after SkewClock(%v): GET = %v, %v", off, got, err)
		}
	}
	if err := c.ResetClock(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if got, err := c.faults.clock.Offset(ctx, 1); err != nil || got != 0 {
		t.Errorf("after ResetClock: GET = %v, %v", got, err)
	}
	if err := c.Kill(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := c.ResetClock(ctx, 1); err != nil {
		t.Errorf("ResetClock on a killed node = %v", err)
	}
	if err := c.SkewClock(ctx, 2, time.Second); !errors.Is(err, cluster.ErrUnknownNode) {
		t.Errorf("SkewClock(2) = %v", err)
	}
	// Without the endpoints the driver says so up front.
	off, err := New(ctx, Config{Binary: buildBinary(ctx, t), Dir: t.TempDir(), Set: map[string]string{faultEndpointsKey: "false"}})
	if err != nil {
		t.Fatal(err)
	}
	defer off.Close(context.Background())
	if err := off.ClocksAvailable(); !errors.Is(err, cluster.ErrUnavailable) || !strings.Contains(err.Error(), faultEndpointsKey) {
		t.Errorf("ClocksAvailable with endpoints off = %v", err)
	}
}
