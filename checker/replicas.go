package checker

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/highwater-io/highwater/history"
)

// Anomaly and finding types of the Replicas checker.
const (
	// ReplicaDivergence: two replicas hold different records at the same
	// offset below the partition's final high watermark. Committed data
	// must be identical on every in-sync replica once the faults healed
	// and the cluster recovered.
	ReplicaDivergence = "replica-divergence"
	// ReplicasSkipped (a finding): the run has no replica logs to compare
	// (a driver without data directories, a history written before the
	// snapshot existed); the verdict is not affected.
	ReplicasSkipped = "skipped"
	// ReplicaUncommittedTail (a finding): replicas differ above the final
	// high watermark, which is allowed: that tail is uncommitted and the
	// leader-epoch protocol truncates it when the replica next fetches.
	ReplicaUncommittedTail = "replica-uncommitted-tail"
	// ReplicaOutsideISR (a finding): a replica outside the final ISR
	// differs below the high watermark; it has not caught up yet and
	// will truncate before it rejoins, so this is not an anomaly.
	ReplicaOutsideISR = "replica-divergence-outside-isr"
	// ReplicaUnreadable (a finding): a replica's log could not be read to
	// its end; the records before the damage are compared.
	ReplicaUnreadable = "replica-unreadable"
)

// maxDivergentShown bounds the offsets an anomaly's explanation spells
// out; the Offsets field lists them all up to maxDivergentListed.
const (
	maxDivergentShown  = 5
	maxDivergentListed = 100
)

// Replicas compares the partition logs of every replica that the harness
// read from the nodes' data directories after the final drain (the
// history's "replicas" phase event, history.Replicas): below the final
// high watermark each pair of in-sync replicas must hold the same record
// at every offset both hold.
type Replicas struct{}

// Name implements Checker.
func (*Replicas) Name() string { return "replicas" }

// Check implements Checker.
func (*Replicas) Check(ctx context.Context, h *history.History) Result {
	snap, ok := h.Replicas()
	if !ok {
		return skippedReplicas("the history has no replica logs snapshot (the run did not record one)")
	}
	if snap.Skipped != "" {
		return skippedReplicas(snap.Skipped)
	}
	var out collector
	var findings []Anomaly
	stats := map[string]int64{}
	for _, rp := range snap.Partitions {
		if ctx.Err() != nil {
			return Result{Valid: Unknown, Reason: "replicas: " + ctx.Err().Error()}
		}
		hw, from := rp.HighWatermark, "recorded after the drain"
		if hw < 0 {
			hw, from = readHighWatermark(h, snap.Topic, rp.Partition), "the highest offset read + 1 (the high watermark could not be asked)"
		}
		stats["partitions"]++
		stats["replica-logs"] += int64(len(rp.Replicas))
		for _, rl := range rp.Replicas {
			if rl.Error != "" {
				findings = append(findings, Anomaly{Type: ReplicaUnreadable, Topic: snap.Topic, Partition: rp.Partition,
					Explanation: fmt.Sprintf("node %d's log of %s-%d could not be read to its end: %s", rl.Node, snap.Topic, rp.Partition, rl.Error)})
			}
		}
		for i := range rp.Replicas {
			for j := i + 1; j < len(rp.Replicas); j++ {
				a, b := &rp.Replicas[i], &rp.Replicas[j]
				below, above := diverge(a, b, hw)
				stats["divergent-offsets-below-hw"] += int64(len(below))
				stats["divergent-offsets-above-hw"] += int64(len(above))
				if len(below) > 0 {
					an := divergenceAnomaly(snap.Topic, rp, a, b, below, hw, from)
					if rp.ISR != nil && (!slices.Contains(rp.ISR, a.Node) || !slices.Contains(rp.ISR, b.Node)) {
						an.Type = ReplicaOutsideISR
						an.Explanation += fmt.Sprintf("; allowed: the final ISR is %v", rp.ISR)
						findings = append(findings, an)
					} else {
						out.add(an)
					}
				}
				if len(above) > 0 {
					findings = append(findings, Anomaly{Type: ReplicaUncommittedTail, Topic: snap.Topic, Partition: rp.Partition,
						Offsets: capped(above), Explanation: fmt.Sprintf(
							"nodes %d and %d differ at %d offsets from %d above the final high watermark %d of %s-%d: allowed, that tail is uncommitted",
							a.Node, b.Node, len(above), above[0], hw, snap.Topic, rp.Partition)})
				}
			}
		}
	}
	if len(out.counts) > 0 {
		return Result{Valid: Invalid, Counts: out.counts, Anomalies: out.anomalies, Findings: findings, Stats: stats}
	}
	return Result{Valid: Valid, Findings: findings, Stats: stats}
}

func skippedReplicas(why string) Result {
	return Result{Valid: Valid, Findings: []Anomaly{{Type: ReplicasSkipped, Explanation: "replica logs not compared: " + why}}}
}

// replicaView is one replica's records by offset.
type replicaView struct {
	start, end int64
	values     map[int64]string
}

func viewOf(rl *history.ReplicaLog) replicaView {
	v := replicaView{start: rl.StartOffset, end: rl.EndOffset, values: make(map[int64]string, len(rl.Offsets))}
	for i, o := range rl.Offsets {
		if i < len(rl.Values) {
			v.values[o] = rl.Values[i]
		}
	}
	return v
}

// diverge lists the offsets both a and b cover (from the later start to
// the earlier end) at which they hold different records, or one a record
// and the other none (a control record or a hole), split at hw.
func diverge(a, b *history.ReplicaLog, hw int64) (below, above []int64) {
	va, vb := viewOf(a), viewOf(b)
	from, to := max(va.start, vb.start), min(va.end, vb.end)
	offsets := map[int64]struct{}{}
	for _, v := range []replicaView{va, vb} {
		for o := range v.values {
			if o >= from && o < to {
				offsets[o] = struct{}{}
			}
		}
	}
	for o := range offsets {
		x, okx := va.values[o]
		y, oky := vb.values[o]
		if okx == oky && x == y {
			continue
		}
		if o < hw {
			below = append(below, o)
		} else {
			above = append(above, o)
		}
	}
	slices.Sort(below)
	slices.Sort(above)
	return below, above
}

func divergenceAnomaly(topic string, rp history.ReplicaPartition, a, b *history.ReplicaLog, offsets []int64, hw int64, hwFrom string) Anomaly {
	va, vb := viewOf(a), viewOf(b)
	show := func(v replicaView, o int64) string {
		if s, ok := v.values[o]; ok {
			return fmt.Sprintf("%q", s)
		}
		return "no record"
	}
	var parts, values []string
	for i, o := range offsets {
		if i < maxDivergentShown {
			parts = append(parts, fmt.Sprintf("offset %d: node %d %s, node %d %s", o, a.Node, show(va, o), b.Node, show(vb, o)))
		}
		if i < maxDivergentListed {
			values = append(values, va.values[o], vb.values[o])
		}
	}
	more := ""
	if len(offsets) > maxDivergentShown {
		more = fmt.Sprintf("; … %d more", len(offsets)-maxDivergentShown)
	}
	return Anomaly{
		Type: ReplicaDivergence, Topic: topic, Partition: rp.Partition, Offsets: capped(offsets), Values: values,
		Explanation: fmt.Sprintf("nodes %d and %d hold different records at %d offsets of %s-%d below its final high watermark %d (%s), where every in-sync replica must hold the same committed records (offsets above it may differ: an uncommitted tail): %s%s",
			a.Node, b.Node, len(offsets), topic, rp.Partition, hw, hwFrom, strings.Join(parts, "; "), more),
	}
}

func capped(offsets []int64) []int64 { return offsets[:min(len(offsets), maxDivergentListed)] }

// readHighWatermark is the fallback high watermark of a partition: one past
// the highest offset any ok poll or fetch returned (a read record was
// committed), or the highest high watermark a fetch reported.
func readHighWatermark(h *history.History, topic string, partition int32) int64 {
	hw := int64(0)
	for i := range h.Ops {
		op := &h.Ops[i]
		if op.Type() != history.TypeOK {
			continue
		}
		switch v := op.Value().(type) {
		case *history.Poll:
			for _, pr := range v.Partitions {
				if pr.Topic == topic && pr.Partition == partition {
					for _, r := range pr.Records {
						hw = max(hw, r.Offset+1)
					}
				}
			}
		case *history.Fetch:
			if v.Topic != topic || v.Partition != partition {
				continue
			}
			for _, r := range v.Records {
				hw = max(hw, r.Offset+1)
			}
			if v.HighWatermark != nil {
				hw = max(hw, *v.HighWatermark)
			}
		}
	}
	return hw
}
