package replica

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
)

// TestScripts runs testdata/*.txt against a simulated cluster. Regenerate
// expectations with: go test ./broker/internal/replica -run TestScripts -rewrite
//
// Commands:
//
//	cluster replicas=1,2,3 [lag=ms] [min-isr=n] [hold-hw] [max-fetch=n]
//	elect leader=n [isr=1,2]        controller elects (from the ISR) and broadcasts
//	fence node=n / unfence node=n   broker session lost / regained at the controller
//	produce node=n [count=k] [acks=all|1|0] [deadline=ms]
//	deliver|drop|dup [id=a,b] [from=n|ctl] [to=n|ctl] [kind=fetch|fetch-resp|meta|alter|alter-resp]
//	run [rounds=k]                  deliver everything, repeatedly (events only)
//	tick ms=k                       advance the clock, Tick every replica
//	restart node=n                  recover n from its log and checkpoints
//	cut node=n / heal node=n        lose every message to or from n / stop
//	net                             list queued messages
//	state                           the controller and every replica
func TestScripts(t *testing.T) {
	paths, _ := filepath.Glob("testdata/*.txt")
	if len(paths) == 0 {
		t.Fatal("no scripts")
	}
	for _, path := range paths {
		t.Run(filepath.Base(path), func(t *testing.T) {
			var c *cluster
			var out strings.Builder
			logf := func(format string, args ...any) { fmt.Fprintf(&out, format+"\n", args...) }
			datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
				out.Reset()
				if d.Cmd == "cluster" {
					c = newScriptCluster(t, d, logf)
				} else if c == nil {
					t.Fatalf("%s: no cluster yet", d.Pos)
				} else {
					runScriptCmd(t, c, d, logf)
				}
				if c != nil && len(c.failures) > 0 {
					c.failures = nil // reported in the output, which the script pins
				}
				if out.Len() == 0 {
					return "ok\n"
				}
				return out.String()
			})
		})
	}
}

func newScriptCluster(t *testing.T, d *datadriven.TestData, logf func(string, ...any)) *cluster {
	cfg := DefaultConfig()
	cfg.ReplicaLagTimeMaxMs = int64(intArg(t, d, "lag", 10_000))
	cfg.MinInsyncReplicas = intArg(t, d, "min-isr", 1)
	cfg.FetchTimeoutMs = int64(intArg(t, d, "fetch-timeout", 5_000))
	cfg.FetchBackoffMs = int64(intArg(t, d, "fetch-backoff", 100))
	cfg.AlterPartitionRetryMs = int64(intArg(t, d, "alter-retry", 5_000))
	cfg.HoldHighWatermarkUnderMinISR = d.HasArg("hold-hw")
	c := newCluster(cfg, idsArg(t, d, "replicas"), logf)
	c.maxFetch = intArg(t, d, "max-fetch", 4)
	return c
}

func runScriptCmd(t *testing.T, c *cluster, d *datadriven.TestData, logf func(string, ...any)) {
	switch d.Cmd {
	case "elect":
		if d.HasArg("isr") {
			c.ctl.isr = sortedIDs(idsArg(t, d, "isr"))
		}
		if err := c.ctl.elect(int32(intArg(t, d, "leader", -1))); err != nil {
			logf("elect: %v", err)
			return
		}
		c.broadcast()
	case "fence":
		c.ctl.fence(int32(intArg(t, d, "node", -1)))
		c.broadcast()
	case "unfence":
		c.ctl.unfence(int32(intArg(t, d, "node", -1)))
		c.broadcast()
	case "produce":
		acks := map[string]int16{"all": AcksAll, "1": AcksLeader, "0": AcksNone}[strArg(d, "acks", "all")]
		id, err := c.produce(int32(intArg(t, d, "node", -1)), intArg(t, d, "count", 1), acks,
			c.nowMs+int64(intArg(t, d, "deadline", 30_000)))
		if err != nil {
			logf("produce: %s", Name(err))
		} else {
			logf("produce: p%d appended up to %d", id, c.nodes[int32(intArg(t, d, "node", -1))].leo()-1)
		}
	case "deliver", "drop", "dup":
		netCmd(t, c, d, logf)
	case "run":
		c.run(intArg(t, d, "rounds", 20))
		if len(c.queue) > 0 {
			logf("(%d queued)", len(c.queue))
		}
	case "cut":
		c.cut[int32(intArg(t, d, "node", -1))] = true
	case "heal":
		delete(c.cut, int32(intArg(t, d, "node", -1)))
	case "restart":
		if err := c.restart(int32(intArg(t, d, "node", -1))); err != nil {
			t.Fatalf("%s: %v", d.Pos, err)
		}
	case "tick":
		c.tick(int64(intArg(t, d, "ms", 0)))
	case "net":
		for _, e := range c.queue {
			logf("%s", e)
		}
	case "state":
		logf("%s", strings.TrimRight(c.describe(), "\n"))
	default:
		t.Fatalf("%s: unknown command %q", d.Pos, d.Cmd)
	}
}

// netCmd delivers, drops or duplicates the queued messages matching the
// filters, in the order given by id= (which is how scripts reorder) or
// queue order.
func netCmd(t *testing.T, c *cluster, d *datadriven.TestData, logf func(string, ...any)) {
	var picked []*envelope
	var rest []*envelope
	for _, e := range c.queue {
		if matches(t, d, e) {
			picked = append(picked, e)
		} else {
			rest = append(rest, e)
		}
	}
	if d.HasArg("id") {
		order := idsArg(t, d, "id")
		slices.SortStableFunc(picked, func(a, b *envelope) int {
			return slices.Index(order, int32(a.id)) - slices.Index(order, int32(b.id))
		})
	}
	switch d.Cmd {
	case "drop":
		c.queue = rest
		for _, e := range picked {
			logf("dropped %s", e)
		}
	case "dup":
		for _, e := range picked {
			cp := *e
			c.nextEnv++
			cp.id = c.nextEnv
			c.queue = append(c.queue, &cp)
			logf("duplicated %s as #%d", e, cp.id)
		}
	case "deliver":
		c.queue = rest
		for _, e := range picked {
			logf("%s", e)
			c.deliver(e)
		}
	}
}

func matches(t *testing.T, d *datadriven.TestData, e *envelope) bool {
	if d.HasArg("id") && !slices.Contains(idsArg(t, d, "id"), int32(e.id)) {
		return false
	}
	if d.HasArg("kind") && strArg(d, "kind", "") != e.kind() {
		return false
	}
	if d.HasArg("from") && strArg(d, "from", "") != strings.TrimPrefix(nodeName(e.from), "n") {
		return false
	}
	if d.HasArg("to") && strArg(d, "to", "") != strings.TrimPrefix(nodeName(e.to), "n") {
		return false
	}
	return true
}

func strArg(d *datadriven.TestData, key, def string) string {
	for _, a := range d.CmdArgs {
		if a.Key == key && len(a.Vals) > 0 {
			return a.Vals[0]
		}
	}
	return def
}

func intArg(t *testing.T, d *datadriven.TestData, key string, def int) int {
	s := strArg(d, key, "")
	if s == "" {
		return def
	}
	v, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("%s: %s=%q: %v", d.Pos, key, s, err)
	}
	return v
}

func idsArg(t *testing.T, d *datadriven.TestData, key string) []int32 {
	var ids []int32
	for _, a := range d.CmdArgs {
		if a.Key != key {
			continue
		}
		for _, v := range a.Vals {
			for _, part := range strings.Split(v, ",") {
				n, err := strconv.Atoi(part)
				if err != nil {
					t.Fatalf("%s: %s=%q: %v", d.Pos, key, v, err)
				}
				ids = append(ids, int32(n))
			}
		}
	}
	return ids
}
