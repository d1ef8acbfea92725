package bench

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// CapacityResult is a finished capacity search against one target.
type CapacityResult struct {
	Target string         `json:"target"`
	Config CapacityConfig `json:"config"`
	// ClosedLoop is the run that chose the start rate, when the config
	// left it 0.
	ClosedLoop *ProduceResult `json:"closedLoop,omitempty"`
	Probes     []Probe        `json:"probes"`
	Found      bool           `json:"found"`
	LimitedBy  string         `json:"limitedBy"`

	// The sustainable figures: the highest passing probe's acknowledged
	// rates (not its offered rate), whole cluster.
	RecordsPerSec float64 `json:"recordsPerSec"`
	MBPerSec      float64 `json:"mbPerSec"`
	P99Ms         float64 `json:"p99Ms"`
	// Brokers is the cluster's broker count (from metadata).
	Brokers int `json:"brokers"`
	// ReplicationFactor is the probe topics' (after capping at the
	// target's node count).
	ReplicationFactor      int16   `json:"replicationFactor"`
	RecordsPerSecPerBroker float64 `json:"recordsPerSecPerBroker"`
	MBPerSecPerBroker      float64 `json:"mbPerSecPerBroker"`
	// CoresUsed is broker CPU seconds per wall second at the sustainable
	// rate; the per-core figures divide by it. Zero when the broker is not
	// a local process.
	CoresUsed            float64 `json:"coresUsed"`
	RecordsPerSecPerCore float64 `json:"recordsPerSecPerCore"`
	MBPerSecPerCore      float64 `json:"mbPerSecPerCore"`
	// ConsumeMBPerSec reads back the sustainable probe's topic as fast as
	// the workload's consumers can (0 when the workload does not consume).
	ConsumeMBPerSec float64 `json:"consumeMBPerSec"`
}

// finish fills the sustainable figures from the search.
func (r *CapacityResult) finish(s *CapacitySearch) {
	r.Probes, r.LimitedBy = s.Probes(), s.LimitedBy()
	best, ok := s.Best()
	r.Found = ok
	if !ok {
		return
	}
	r.RecordsPerSec, r.MBPerSec, r.P99Ms = best.SentPerSec, best.MBPerSec, best.P99Ms
	if r.Brokers > 0 {
		r.RecordsPerSecPerBroker = r.RecordsPerSec / float64(r.Brokers)
		r.MBPerSecPerBroker = r.MBPerSec / float64(r.Brokers)
	}
	if best.Measured && best.WallSeconds > 0 && best.BrokerCPUSeconds > 0 {
		r.CoresUsed = best.BrokerCPUSeconds / best.WallSeconds
		r.RecordsPerSecPerCore = r.RecordsPerSec / r.CoresUsed
		r.MBPerSecPerCore = r.MBPerSec / r.CoresUsed
	}
}

// FindCapacity starts t once and runs the capacity search on it: each
// probe produces open loop at one rate for w.Duration (10 s when unset) to
// a fresh topic, w's warm-up excluded, and the topic is deleted unless it
// is the best so far. When w.Consume is set the best topic is read back
// at the end for the consume rate. The workload's RatePerSec and Records
// are ignored.
func FindCapacity(ctx context.Context, t Target, w Workload, cfg CapacityConfig, opts RunOptions) (CapacityResult, error) {
	res := CapacityResult{Target: t.Name(), Config: cfg}
	if w.Duration <= 0 {
		w.Duration = 10 * time.Second
	}
	w.RatePerSec, w.Records, w.EndToEnd = 0, 0, false
	if err := w.Validate(); err != nil {
		return res, err
	}
	if err := cfg.Validate(); err != nil {
		return res, err
	}
	inst, err := t.Start(ctx)
	if err != nil {
		return res, err
	}
	defer func() {
		if err := inst.Stop(); err != nil && opts.Log != nil {
			fmt.Fprintf(opts.Log, "%s: stop: %v\n", t.Name(), err)
		}
	}()
	if res.Brokers, err = countBrokers(ctx, inst.Bootstrap()); err != nil {
		return res, err
	}
	w.ReplicationFactor = effectiveRF(w, inst)
	res.ReplicationFactor = w.ReplicationFactor
	pr := &prober{ctx: ctx, inst: inst, w: w, opts: opts, label: t.Name()}
	defer pr.dropBest()
	if cfg.StartRatePerSec <= 0 {
		closed, err := pr.run(0)
		if err != nil {
			return res, fmt.Errorf("bench: closed-loop run for the start rate: %w", err)
		}
		pr.drop(closed.topic)
		res.ClosedLoop = &closed.produce
		cfg.StartRatePerSec = closed.produce.RecordsPerSec / 2
		res.Config = cfg
		logf(opts.Log, "%s: closed loop %.0f records/s (%.1f MB/s); searching from %.0f records/s\n",
			t.Name(), closed.produce.RecordsPerSec, closed.produce.MBPerSec, cfg.StartRatePerSec)
	}
	s, searchErr := SearchCapacity(cfg, func(rate float64) (Probe, error) {
		out, err := pr.run(rate)
		if ctx.Err() != nil {
			return Probe{}, ctx.Err()
		}
		p := ProbeFromProduce(rate, out.produce)
		if err != nil {
			p.Err = err.Error()
		}
		p.Measured, p.BrokerCPUSeconds, p.WallSeconds = out.measured, out.brokerCPUSeconds, out.wallSeconds
		p = cfg.Judge(p)
		pr.keepIfBest(out.topic, p, out.produce.TotalRecords)
		logf(opts.Log, "%s: probe %.0f records/s: sent %.0f/s (%.4f), %.1f MB/s, p99 %.1f ms: %s\n",
			t.Name(), rate, p.SentPerSec, p.SentRatio, p.MBPerSec, p.P99Ms, verdict(p))
		return p, nil
	})
	if s != nil {
		res.finish(s)
	}
	if searchErr != nil {
		return res, searchErr
	}
	if res.Found && w.Consume && pr.bestTopic != "" {
		var c ConsumeResult
		if group := w.consumerGroup(pr.bestTopic); group != "" {
			c, err = ConsumeGroup(ctx, inst.Bootstrap(), pr.bestTopic, group, w.Consumers, w.Partitions, pr.bestRecords, w.IdleTimeout)
		} else {
			c, err = Consume(ctx, inst.Bootstrap(), pr.bestTopic, pr.bestRecords, w.IdleTimeout)
		}
		if err != nil {
			return res, fmt.Errorf("bench: read back %s: %w", pr.bestTopic, err)
		}
		res.ConsumeMBPerSec = c.MBPerSec
	}
	return res, nil
}

func verdict(p Probe) string {
	if p.Pass {
		return "sustained"
	}
	return p.Reason
}

func logf(w io.Writer, format string, args ...any) {
	if w != nil {
		fmt.Fprintf(w, format, args...)
	}
}

// prober runs probes against one started instance and keeps the best
// passing probe's topic for the read-back.
type prober struct {
	ctx         context.Context
	inst        Instance
	w           Workload
	opts        RunOptions
	label       string
	n           int
	bestTopic   string
	bestRate    float64
	bestRecords int64
}

type probeOut struct {
	topic            string
	produce          ProduceResult
	measured         bool
	brokerCPUSeconds float64
	wallSeconds      float64
}

// run produces at rate (0 = closed loop) into a fresh topic.
func (p *prober) run(rate float64) (probeOut, error) {
	p.n++
	out := probeOut{topic: fmt.Sprintf("bench-capacity-%d-%d", time.Now().UnixNano(), p.n)}
	if err := createTopic(p.ctx, p.inst.Bootstrap(), out.topic, p.w); err != nil {
		return out, err
	}
	w := p.w
	w.RatePerSec = rate
	pids := instancePIDs(p.inst)
	before, procErr := ReadProcStatsOf("/proc", pids)
	var err error
	rp := p.opts.begin(fmt.Sprintf("%s %.0f/s", p.label, rate))
	began := time.Now()
	out.produce, err = Produce(p.ctx, p.inst.Bootstrap(), out.topic, w, rp)
	out.wallSeconds = time.Since(began).Seconds()
	if rp != nil {
		rp.End()
	}
	if procErr == nil {
		if after, err := ReadProcStatsOf("/proc", pids); err == nil {
			out.measured = true
			// Over the produce phase only, as the probe's wall time is.
			out.brokerCPUSeconds = after.Sub(before).CPUSeconds
		}
	}
	if err == nil && out.produce.Errors > 0 {
		err = fmt.Errorf("%d records failed, first: %s", out.produce.Errors, out.produce.FirstError)
	}
	return out, err
}

// keepIfBest keeps topic when p is the best pass so far (dropping the
// previous best); otherwise it drops topic.
func (p *prober) keepIfBest(topic string, pr Probe, acked int64) {
	if !pr.Pass || pr.RatePerSec <= p.bestRate || !p.w.Consume {
		p.drop(topic)
		return
	}
	p.dropBest()
	p.bestTopic, p.bestRate = topic, pr.RatePerSec
	// The read-back wants everything acknowledged, warm-up included.
	p.bestRecords = acked
}

func (p *prober) dropBest() {
	if p.bestTopic != "" {
		p.drop(p.bestTopic)
		p.bestTopic = ""
	}
}

// drop deletes a probe's topic so a long search does not fill the disk.
func (p *prober) drop(topic string) {
	if err := deleteTopic(p.inst.Bootstrap(), topic); err != nil {
		logf(p.opts.Log, "%s: delete topic %s: %v\n", p.label, topic, err)
	}
}

// countBrokers asks the cluster how many brokers it has.
func countBrokers(ctx context.Context, bootstrap string) (int, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(seedList(bootstrap)...))
	if err != nil {
		return 0, fmt.Errorf("bench: admin client: %w", err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	md, err := kadm.NewClient(cl).BrokerMetadata(ctx)
	if err != nil {
		return 0, fmt.Errorf("bench: broker metadata: %w", err)
	}
	return max(len(md.Brokers), 1), nil
}
