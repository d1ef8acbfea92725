package replica

import (
	"strings"
	"sync/atomic"
	"testing"

	"pgregory.net/rapid"
)

func TestTmpStats(t *testing.T) {
	var acks, truncs, leaders, nerr, runs atomic.Int64
	rapid.Check(t, func(rt *rapid.T) {
		runs.Add(1)
		cfg := DefaultConfig()
		cfg.ReplicaLagTimeMaxMs = 200
		cfg.MinInsyncReplicas = rapid.IntRange(1, 3).Draw(rt, "min-isr")
		cfg.FetchTimeoutMs = 300
		cfg.FetchBackoffMs = 50
		cfg.AlterPartitionRetryMs = 300
		ids := []int32{1, 2, 3}
		c := newCluster(cfg, ids, func(f string, a ...any) {
			switch {
			case strings.Contains(f, "truncate"):
				truncs.Add(1)
			case strings.Contains(f, "leader at"):
				leaders.Add(1)
			case strings.Contains(f, "FAIL"):
				nerr.Add(1)
			}
		})
		_ = c.ctl.elect(1)
		c.broadcast()
		steps := rapid.IntRange(20, 400).Draw(rt, "steps")
		for i := 0; i < steps; i++ {
			simAction(rt, c, ids)
		}
		heal(c, ids)
		acks.Add(int64(len(c.acked)))
	})
	t.Logf("runs=%d acked=%d truncations=%d leaderships=%d fails=%d", runs.Load(), acks.Load(), truncs.Load(), leaders.Load(), nerr.Load())
}
