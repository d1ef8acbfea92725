package kafka

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/highwater-io/highwater/harness/cluster"
	"github.com/highwater-io/highwater/harness/netns"
)

// requireKafka skips when java or the jars are missing, unless
// HIGHWATER_REQUIRE_KAFKA=1 turns the skip into a failure (CI).
func requireKafka(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	_, errJava := findJava("")
	_, errLib := findLib(ctx, "")
	if err := errors.Join(errJava, errLib); err != nil {
		if os.Getenv("HIGHWATER_REQUIRE_KAFKA") == "1" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
}

// startCluster starts a cluster and registers its Close plus a check that
// no process of it survives.
func startCluster(t *testing.T, cfg Config) *Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	began := time.Now()
	c, err := New(ctx, cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Logf("%d-node cluster ready in %v: %s", len(c.Nodes()), time.Since(began).Round(time.Millisecond), c.Bootstrap())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := c.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
		assertNoProcesses(t, c.Dir())
		if c.net != nil {
			if left := netns.Leftovers(context.Background(), c.net.Tag()); len(left) > 0 {
				t.Errorf("left after Close: %v", left)
			}
		}
		if t.Failed() {
			for _, n := range c.Nodes() {
				t.Logf("node %d log: %s", n.ID, c.Logs(n.ID))
			}
		}
	})
	return c
}

// assertNoProcesses fails if any process's command line mentions dir.
func assertNoProcesses(t *testing.T, dir string) {
	t.Helper()
	if pids := processesMentioning(dir); len(pids) > 0 {
		t.Errorf("processes left behind mentioning %s: %v", dir, pids)
	}
}

func processesMentioning(dir string) []string {
	entries, _ := os.ReadDir("/proc")
	var out []string
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || e.Name() == "self" {
			continue
		}
		if strings.Contains(string(b), dir) {
			out = append(out, e.Name())
		}
	}
	return out
}

// poll calls f until it returns nil or d passes, returning f's last error.
func poll(ctx context.Context, d time.Duration, f func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	for {
		err := f(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func nodeIDs(c cluster.Cluster) []int32 {
	var ids []int32
	for _, n := range c.Nodes() {
		ids = append(ids, n.ID)
	}
	return ids
}

// testDir is a fresh cluster directory; HIGHWATER_KEEP_DIR=<dir> keeps it
// (and the node logs) under that directory after the test.
func testDir(t *testing.T) string {
	if keep := os.Getenv("HIGHWATER_KEEP_DIR"); keep != "" {
		d, err := os.MkdirTemp(keep, t.Name()+"-")
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("cluster dir kept: %s", d)
		return d
	}
	return t.TempDir()
}
