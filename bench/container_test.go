package bench

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

// requireEngine skips (or, with HIGHWATER_REQUIRE_CONTAINERS=1, fails) when
// no container engine answers, naming the setup script.
func requireEngine(t *testing.T) {
	t.Helper()
	if err := CheckEngine(context.Background()); err != nil {
		if os.Getenv("HIGHWATER_REQUIRE_CONTAINERS") == "1" {
			t.Fatalf("HIGHWATER_REQUIRE_CONTAINERS=1: %v", err)
		}
		t.Skip(err)
	}
}

// TestCheckEngineFailsFast: a DOCKER_HOST nobody serves is reported at
// once, with the sentinel and the setup script's name.
func TestCheckEngineFailsFast(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix://"+t.TempDir()+"/absent.sock")
	start := time.Now()
	err := CheckEngine(context.Background())
	if !errors.Is(err, ErrNoEngine) || !strings.Contains(err.Error(), "scripts/podman-setup.sh") {
		t.Fatalf("CheckEngine = %v, want ErrNoEngine naming scripts/podman-setup.sh", err)
	}
	if d := time.Since(start); d > engineProbeTimeout+time.Second {
		t.Errorf("took %v", d)
	}
	_, err = (&ContainerTarget{}).Start(context.Background())
	if !errors.Is(err, ErrNoEngine) {
		t.Errorf("Start = %v, want ErrNoEngine", err)
	}
}

func TestContainerCommand(t *testing.T) {
	ct := &ContainerTarget{Properties: map[string]string{"num.partitions": "3", "log.dirs": "/data/x"}}
	got := strings.Join(ct.command(40000), " ")
	want := "--override advertised.listeners=PLAINTEXT://127.0.0.1:40000 --override listeners=PLAINTEXT://0.0.0.0:9092 " +
		"--override log.dirs=/data/x --override node.id=1 --override num.partitions=3"
	if got != want {
		t.Errorf("command:\n got %s\nwant %s", got, want)
	}
}

// TestContainerTargetBench builds the FROM-scratch image, runs a short
// closed-loop workload against the broker in its container and reads every
// record back; the container and image are gone afterwards.
func TestContainerTargetBench(t *testing.T) {
	if testing.Short() {
		t.Skip("builds an image and starts a container")
	}
	requireEngine(t)
	ct := &ContainerTarget{WorkDir: t.TempDir(),
		Properties: map[string]string{"group.initial.rebalance.delay.ms": "0"}}
	defer ct.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	w := DefaultWorkload()
	w.Records, w.Warmup, w.Partitions = 3000, 0, 3
	var log strings.Builder
	r, err := RunOnce(ctx, ct, w, 1, RunOptions{Log: &log})
	if err != nil {
		t.Fatalf("RunOnce: %v\n%s", err, log.String())
	}
	p, c := r.Produce, r.Consume
	if p.TotalRecords != w.Records || p.Errors != 0 {
		t.Errorf("produced %d (errors %d), want %d", p.TotalRecords, p.Errors, w.Records)
	}
	if c.Records != p.TotalRecords || c.Bytes != p.TotalBytes {
		t.Errorf("consumed %d records / %d bytes, produced %d / %d", c.Records, c.Bytes, p.TotalRecords, p.TotalBytes)
	}
	if !r.Measured || r.Broker.PeakRSSBytes <= 0 {
		t.Errorf("broker resources not measured through the container's host pid: %v %+v", r.Measured, r.Broker)
	}
	t.Logf("started in %.1f s; %s; %s; broker %+v", r.StartSeconds, ProducerLine(p), ConsumerLine(c), r.Broker)
}
