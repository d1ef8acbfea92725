package reference

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/highwater-io/highwater/harness/cluster"
	"github.com/highwater-io/highwater/harness/internal/clustertesting"
	"github.com/highwater-io/highwater/harness/netns"
)

// TestNetNSPartition: every node in its own namespace; isolating the
// leader of a partition moves leadership to the majority, healing brings
// the ISR back to 3; the harness reaches every node throughout; Close
// leaves no namespace, link or table.
func TestNetNSPartition(t *testing.T) {
	if err := netns.Available(); err != nil {
		t.Skipf("skipping the network-namespace test: %v", err)
	}
	if testing.Short() {
		t.Skip("-short: starts a 3-node cluster")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := New(ctx, Config{Binary: buildBinary(ctx, t), Dir: t.TempDir(), Nodes: 3, NetNS: true, Set: map[string]string{
		"broker.session.timeout.ms":    strconv.Itoa(int(sessionTimeout.Milliseconds())),
		"broker.heartbeat.interval.ms": "500",
	}})
	if err != nil {
		t.Fatal(err)
	}
	tag := c.net.Tag()
	defer func() {
		if err := c.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
		if left := netns.Leftovers(context.Background(), tag); len(left) > 0 {
			t.Errorf("left after Close: %v", left)
		}
	}()
	for _, n := range c.Nodes() {
		if strings.HasPrefix(n.Addr, "127.") {
			t.Fatalf("node %d listens on %s, not its namespace's address", n.ID, n.Addr)
		}
	}
	nw, err := cluster.NetworkOf(c)
	if err != nil {
		t.Fatal(err)
	}
	adm := clustertesting.Admin(t, c)
	defer adm.Close()
	const topic = "t"
	clustertesting.CreateTopic(ctx, t, adm, topic, 1, 20*time.Second)
	want := clustertesting.Produce(ctx, t, c, topic, 100, "a")
	tp0 := cluster.TopicPartition{Topic: topic}
	leaders, err := c.Leaders(ctx)
	if err != nil {
		t.Fatal(err)
	}
	victim := leaders[tp0]
	cut := time.Now()
	if err := cluster.Isolate(ctx, c, nw, victim); err != nil {
		t.Fatal(err)
	}
	moved, err := clustertesting.NewLeader(ctx, c, tp0, victim, sessionTimeout+3*failoverSlack)
	if err != nil {
		t.Fatalf("leadership did not leave isolated node %d: %v", victim, err)
	}
	t.Logf("isolated leader %d; node %d leads after %v", victim, moved, time.Since(cut).Round(time.Millisecond))
	// The isolated node still answers the harness (only node-to-node
	// links are cut).
	if _, err := c.directs[victim-1].Metadata(ctx); err != nil {
		t.Errorf("isolated node %d does not answer the harness: %v", victim, err)
	}
	want = append(want, clustertesting.Produce(ctx, t, c, topic, 20, "b")...)
	healed := time.Now()
	if err := nw.HealAll(ctx); err != nil {
		t.Fatal(err)
	}
	if err := clustertesting.WaitISR(ctx, adm, topic, 3, 60*time.Second); err != nil {
		t.Fatalf("ISR not back to 3 after heal: %v", err)
	}
	t.Logf("ISR back to 3 %v after heal", time.Since(healed).Round(time.Millisecond))
	clustertesting.ConsumeExpect(ctx, t, c, topic, want)
	// Real packet loss on one node: the cluster keeps serving; slow is
	// unavailable (nftables cannot delay).
	if err := c.LinksAvailable(cluster.LinkSlow); !errors.Is(err, cluster.ErrUnavailable) {
		t.Errorf("LinksAvailable(slow) in NetNS mode = %v", err)
	}
	if err := c.LossyLinks(ctx, victim, 10); err != nil {
		t.Fatal(err)
	}
	want = append(want, clustertesting.Produce(ctx, t, c, topic, 20, "c")...)
	if err := c.RestoreLinks(ctx, victim); err != nil {
		t.Fatal(err)
	}
	clustertesting.ConsumeExpect(ctx, t, c, topic, want)
	if err := nw.Cut(ctx, 1, 4); !errors.Is(err, cluster.ErrUnknownNode) {
		t.Errorf("Cut(1, 4) = %v, want ErrUnknownNode", err)
	}
}
