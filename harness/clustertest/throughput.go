package clustertest

import (
	"context"
	"fmt"
	"time"

	"github.com/highwater-io/highwater/bench"
	"github.com/highwater-io/highwater/harness/cluster"
)

// ThroughputConfig is one produce throughput measurement.
type ThroughputConfig struct {
	Topic             string
	ReplicationFactor int16
	// Acks is "1" or "all" (all: idempotent, as bench does).
	Acks string
	// Partitions 0 means 6; RecordBytes 0 means 1024.
	Partitions  int32
	RecordBytes int
	// Duration of the produce phase, warm-up included; 0 means 20 s.
	Duration time.Duration
	// Warmup is excluded from the figure; 0 means 3 s.
	Warmup time.Duration
}

// Throughput creates cfg.Topic on c and produces to it for cfg.Duration
// with bench's default producer (1 MiB batches, 5 ms linger, one client,
// closed loop), returning bench's result (MBPerSec excludes the warm-up).
func Throughput(ctx context.Context, c cluster.Cluster, cfg ThroughputConfig) (bench.ProduceResult, error) {
	w := bench.DefaultWorkload()
	w.Topic = cfg.Topic
	if cfg.Partitions > 0 {
		w.Partitions = cfg.Partitions
	}
	if cfg.RecordBytes > 0 {
		w.RecordBytes = cfg.RecordBytes
	}
	w.Acks = cfg.Acks
	w.ReplicationFactor = cfg.ReplicationFactor
	w.Duration = cfg.Duration
	if w.Duration <= 0 {
		w.Duration = 20 * time.Second
	}
	w.Warmup = cfg.Warmup
	if w.Warmup <= 0 {
		w.Warmup = 3 * time.Second
	}
	w.Records = 0
	w.Consume = false
	if err := w.Validate(); err != nil {
		return bench.ProduceResult{}, fmt.Errorf("clustertest: throughput: %w", err)
	}
	cl, err := NewClient(c)
	if err != nil {
		return bench.ProduceResult{}, err
	}
	defer cl.Close()
	if err := CreateTopic(ctx, c, cl, w.Topic, w.Partitions, w.ReplicationFactor, nil); err != nil {
		return bench.ProduceResult{}, err
	}
	return bench.Produce(ctx, c.Bootstrap(), w.Topic, w, nil)
}
