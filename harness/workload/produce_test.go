package workload

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/highwater-io/highwater/history"
)

// A broker that never answers a produce (BUGS.md: a stalled partition
// leader) must not hold a send past SendTimeout plus the grace: the send
// settles as info (outcome unknown) in bounded time, although the
// idempotent client keeps its request in flight.
func TestSendBoundedWhenBrokerNeverAnswers(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "highwater-queue"))
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	defer c.Close()
	defer close(release)
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		c.SleepControl(func() { <-release }) // never answered while the test runs
		return nil, nil, false
	})
	hw, err := history.Create(filepath.Join(t.TempDir(), "history.jsonl"), history.Header{Scenario: "stall", Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer hw.Close()
	cfg := DefaultConfig(strings.Join(c.ListenAddrs(), ","))
	cfg.SendTimeout = time.Second
	w, err := New(cfg, hw)
	if err != nil {
		t.Fatal(err)
	}
	p, err := w.newProducer()
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // the run's context: no help
	defer cancel()
	start := time.Now()
	typ := p.send(ctx, "highwater-queue", 0)
	took := time.Since(start)
	if typ != history.TypeInfo {
		t.Fatalf("a send the broker never answered was recorded %v, want info", typ)
	}
	if limit := cfg.SendTimeout + sendAbandonGrace + time.Second; took > limit {
		t.Fatalf("the send took %v, want at most %v", took, limit)
	}
	t.Logf("send settled as info after %v", took.Round(time.Millisecond))
}
