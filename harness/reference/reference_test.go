package reference

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/highwater-io/highwater/harness/cluster"
	"github.com/highwater-io/highwater/internal/brokerproc"
)

func TestManyNodesRefused(t *testing.T) {
	_, err := New(context.Background(), Config{Nodes: 3, Dir: t.TempDir()})
	if !errors.Is(err, ErrNotBuilt) {
		t.Fatalf("New(3 nodes) = %v, want ErrNotBuilt", err)
	}
}

func TestSingleNode(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	bin, err := brokerproc.Build(ctx, t.TempDir())
	if err != nil {
		t.Skipf("highwater does not build right now (others' packages may be mid-edit): %v", err)
	}
	c, err := New(ctx, Config{Binary: bin, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	nodes := c.Nodes()
	if len(nodes) != 1 || nodes[0].Addr != c.Bootstrap() || nodes[0].Rack != "az-a" {
		t.Fatalf("Nodes = %+v", nodes)
	}
	id := nodes[0].ID
	if _, err := os.Stat(c.Logs(id)); err != nil {
		t.Errorf("log: %v", err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Bootstrap()), kgo.DefaultProduceTopic("t"), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	leaders, err := c.Leaders(ctx)
	if err != nil || leaders[cluster.TopicPartition{Topic: "t"}] != id {
		t.Fatalf("Leaders = %v, %v", leaders, err)
	}
	if ctrl, err := c.ActiveController(ctx); err != nil || ctrl != id {
		t.Fatalf("ActiveController = %d, %v", ctrl, err)
	}
	if err := c.Kill(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := c.Restart(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := c.Kill(ctx, id+1); !errors.Is(err, cluster.ErrUnknownNode) {
		t.Fatalf("Kill(unknown) = %v", err)
	}
	if _, err := cluster.NetworkOf(c); !errors.Is(err, cluster.ErrUnavailable) {
		t.Fatalf("NetworkOf = %v, want ErrUnavailable", err)
	}
}
