package cluster

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// directs starts a 3-broker kfake cluster and returns a Direct per broker
// (kfake numbers them 0..2) plus one for a closed port, as node 9.
func directs(t *testing.T) (live []Direct, dead Direct) {
	t.Helper()
	fc, err := kfake.NewCluster(kfake.NumBrokers(3))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fc.Close)
	seed := func(id int32, addr string) Direct {
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close)
		return Direct{ID: id, Client: cl}
	}
	for i, addr := range fc.ListenAddrs() {
		live = append(live, seed(int32(i), addr))
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	return live, seed(9, closed)
}

// TestMetadataController: the nodes agree on kfake's controller; a node
// that does not answer is not counted; none answering is ErrNoAnswer.
func TestMetadataController(t *testing.T) {
	live, dead := directs(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	want, err := MetadataController(ctx, live)
	if err != nil || want < 0 || want > 2 {
		t.Fatalf("MetadataController = %d, %v; want one of kfake's brokers 0..2", want, err)
	}
	if got, err := MetadataController(ctx, append(live, dead)); err != nil || got != want {
		t.Errorf("with a dead node = %d, %v; want %d", got, err, want)
	}
	if got, err := MetadataController(ctx, []Direct{dead}); !errors.Is(err, ErrNoAnswer) || got != -1 {
		t.Errorf("no node answering = %d, %v; want -1, ErrNoAnswer", got, err)
	}
}

// TestAnySees: every broker listed is seen; a node id no broker has is
// named in the error; a dead node alone fails, and is skipped beside a
// live one.
func TestAnySees(t *testing.T) {
	live, dead := directs(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := AnySees(ctx, live, IDs(live)); err != nil {
		t.Errorf("AnySees(all) = %v", err)
	}
	if err := AnySees(ctx, append([]Direct{dead}, live...), IDs(live)); err != nil {
		t.Errorf("AnySees with a dead node first = %v", err)
	}
	if err := AnySees(ctx, live, []int32{0, 7}); err == nil || !strings.Contains(err.Error(), "not node 7") {
		t.Errorf("AnySees(want 7) = %v, want an error naming node 7", err)
	}
	dctx, dcancel := context.WithTimeout(ctx, 2*time.Second)
	defer dcancel()
	if err := AnySees(dctx, []Direct{dead}, []int32{9}); err == nil || !strings.HasPrefix(err.Error(), "node 9: ") {
		t.Errorf("AnySees(dead) = %v, want an error naming node 9", err)
	}
}
