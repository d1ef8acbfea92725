package workload

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// EnsureTopic creates the workload's topic (an existing one is kept) and
// waits until every partition has a leader, retrying until ctx ends.
func (w *Workload) EnsureTopic(ctx context.Context) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(w.cfg.seeds()...))
	if err != nil {
		return fmt.Errorf("workload: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	rf := int16(w.cfg.ReplicationFactor)
	if rf == 0 {
		rf = -1
	}
	var configs map[string]*string
	if w.cfg.MinInsyncReplicas > 0 {
		v := strconv.Itoa(w.cfg.MinInsyncReplicas)
		configs = map[string]*string{"min.insync.replicas": &v}
	}
	var last error
	for {
		last = w.tryCreate(ctx, adm, rf, configs)
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("workload: topic %s not ready: %w (last: %v)", w.cfg.Topic, ctx.Err(), last)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func (w *Workload) tryCreate(ctx context.Context, adm *kadm.Client, rf int16, configs map[string]*string) error {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	resp, err := adm.CreateTopic(cctx, int32(w.cfg.Partitions), rf, configs, w.cfg.Topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return err
	}
	md, err := adm.Metadata(cctx, w.cfg.Topic)
	if err != nil {
		return err
	}
	t, ok := md.Topics[w.cfg.Topic]
	if !ok || t.Err != nil {
		return fmt.Errorf("topic %s not in metadata yet", w.cfg.Topic)
	}
	if len(t.Partitions) < w.cfg.Partitions {
		return fmt.Errorf("topic %s has %d partitions, want %d", w.cfg.Topic, len(t.Partitions), w.cfg.Partitions)
	}
	for _, p := range t.Partitions {
		if p.Leader < 0 || p.Err != nil {
			return fmt.Errorf("partition %d has no leader yet", p.Partition)
		}
	}
	return nil
}
