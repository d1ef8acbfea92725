package bench

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	hcontainer "github.com/highwater-io/highwater/harness/container"
)

func TestOfficialContainerTargetName(t *testing.T) {
	for _, tc := range []struct {
		t    OfficialContainerTarget
		want string
	}{
		{OfficialContainerTarget{Flavor: hcontainer.FlavorKafka}, "container:kafka"},
		{OfficialContainerTarget{Flavor: hcontainer.FlavorRedpanda, Nodes: 1}, "container:redpanda"},
		{OfficialContainerTarget{Flavor: hcontainer.FlavorKafka, Nodes: 3}, "container:kafka-3"},
	} {
		if got := tc.t.Name(); got != tc.want {
			t.Errorf("Name() = %q, want %q", got, tc.want)
		}
	}
}

// TestOfficialContainerTargetNoImage: an image the engine does not store
// and cannot pull fails Start at once with the sentinel, the image's name
// and the fix, leaving no work directory behind.
func TestOfficialContainerTargetNoImage(t *testing.T) {
	requireEngine(t)
	for _, f := range []hcontainer.Flavor{hcontainer.FlavorKafka, hcontainer.FlavorRedpanda} {
		dir := t.TempDir()
		image := "docker.io/highwater/absent-" + string(f) + ":0"
		began := time.Now()
		inst, err := OfficialContainerTarget{Flavor: f, Image: image, WorkDir: dir}.Start(context.Background())
		if err == nil {
			_ = inst.Stop()
			t.Fatalf("%s: Start with %s succeeded", f, image)
		}
		if !errors.Is(err, ErrImageUnavailable) || !strings.Contains(err.Error(), image) || !strings.Contains(err.Error(), "podman load") {
			t.Errorf("%s: Start = %v", f, err)
		}
		if took := time.Since(began); took > hcontainer.DefaultPullTimeout+5*time.Second {
			t.Errorf("%s: failed after %v", f, took)
		}
		if left, _ := os.ReadDir(dir); len(left) != 0 {
			t.Errorf("%s: left %d entries in the work directory", f, len(left))
		}
	}
}

// TestOfficialContainerTargetBench runs a short workload against Apache
// Kafka's image when the engine stores it; no registry is assumed, so it
// skips (saying why) everywhere else.
func TestOfficialContainerTargetBench(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Kafka container")
	}
	requireEngine(t)
	image := hcontainer.ResolveImage(hcontainer.FlavorKafka, "")
	if ok, err := hcontainer.ImagePresent(context.Background(), image); err != nil {
		t.Fatal(err)
	} else if !ok {
		t.Skipf("image %s is not stored locally and no registry is assumed; pre-load it or set %s", image, hcontainer.EnvKafkaImage)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	w := DefaultWorkload()
	w.Records, w.Warmup, w.Partitions = 3000, 0, 3
	var log strings.Builder
	r, err := RunOnce(ctx, OfficialContainerTarget{Flavor: hcontainer.FlavorKafka, WorkDir: t.TempDir()}, w, 1, RunOptions{Log: &log})
	if err != nil {
		t.Fatalf("RunOnce: %v\n%s", err, log.String())
	}
	if r.Produce.TotalRecords != w.Records || r.Consume.Records != r.Produce.TotalRecords {
		t.Errorf("produced %d, consumed %d, want %d", r.Produce.TotalRecords, r.Consume.Records, w.Records)
	}
	t.Logf("%s; %s", ProducerLine(r.Produce), ConsumerLine(r.Consume))
}
