package clustertest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/highwater-io/highwater/harness/cluster"
)

// ErrNoRecovery means acknowledgements did not resume after a kill within
// FailoverConfig.RecoveryTimeout.
var ErrNoRecovery = errors.New("clustertest: produce did not recover")

// FailoverConfig shapes Failover.
type FailoverConfig struct {
	// Topic is created with one partition and RF min(3, nodes).
	Topic string
	// Kills is how many times the partition's leader is killed; 0 means 10.
	Kills int
	// RecoveryTimeout bounds the wait for the first acknowledgement after
	// a kill; 0 means 2 minutes.
	RecoveryTimeout time.Duration
	// Interval paces the producer (see ProducerConfig); 0 means 2 ms.
	Interval time.Duration
	// Log, when set, gets one line per kill.
	Log io.Writer
}

// KillResult is one kill -9 of the partition leader.
type KillResult struct {
	Victim int32
	// VictimEpoch and NewEpoch are the partition's leader epochs before the
	// kill and once another node leads: a new epoch shows the victim really
	// was the leader when it died.
	VictimEpoch, NewEpoch int32
	// VictimWasController: the victim also led the metadata quorum, so a
	// controller election came first.
	VictimWasController bool
	KilledAt            time.Time
	// LastAckBefore and FirstAckAfter bound the gap clients saw.
	LastAckBefore, FirstAckAfter time.Time
	NewLeader                    int32
}

// Gap is the time between the last acknowledgement before the failover and
// the first after it: how long acks=all producers saw nothing succeed.
func (k KillResult) Gap() time.Duration { return k.FirstAckAfter.Sub(k.LastAckBefore) }

// FailoverResult is a whole Failover run.
type FailoverResult struct {
	Kills []KillResult
	// Acked, Sent and Failed count the producer's records.
	Acked, Failed int
	Sent          int64
	// CheckErr is Check's verdict on the partition read back at the end
	// (nil: nothing acknowledged lost, order kept, nothing beyond the HW).
	CheckErr error
}

// Gaps returns every kill's gap, sorted.
func (r FailoverResult) Gaps() []time.Duration {
	out := make([]time.Duration, len(r.Kills))
	for i, k := range r.Kills {
		out[i] = k.Gap()
	}
	slices.Sort(out)
	return out
}

// Median is the median gap (the mean of the middle two for an even count).
func (r FailoverResult) Median() time.Duration {
	g := r.Gaps()
	switch n := len(g); {
	case n == 0:
		return 0
	case n%2 == 1:
		return g[n/2]
	default:
		return (g[n/2-1] + g[n/2]) / 2
	}
}

// Max is the largest gap.
func (r FailoverResult) Max() time.Duration {
	g := r.Gaps()
	if len(g) == 0 {
		return 0
	}
	return g[len(g)-1]
}

// Failover produces acks=all without pause to a fresh RF-3 partition of c
// and kills its leader -9 cfg.Kills times; after each kill it waits for
// acknowledgements to resume, restarts the victim and waits for the full
// ISR before the next kill. At the end the partition is read back and
// checked. An error means the run could not be completed; a completed run
// whose data is wrong reports that in CheckErr.
func Failover(ctx context.Context, c cluster.Cluster, cfg FailoverConfig) (FailoverResult, error) {
	if cfg.Kills <= 0 {
		cfg.Kills = 10
	}
	if cfg.RecoveryTimeout <= 0 {
		cfg.RecoveryTimeout = 2 * time.Minute
	}
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	var res FailoverResult
	cl, err := NewClient(c)
	if err != nil {
		return res, err
	}
	defer cl.Close()
	rf := int16(min(3, len(c.Nodes())))
	if err := CreateTopic(ctx, c, cl, cfg.Topic, 1, rf, nil); err != nil {
		return res, err
	}
	const prefix = "f"
	prod, err := StartProducer(ctx, c, ProducerConfig{Topic: cfg.Topic, Prefix: prefix, Interval: cfg.Interval})
	if err != nil {
		return res, err
	}
	stopped := false
	defer func() {
		if !stopped {
			prod.Stop(context.Background())
		}
	}()
	if err := waitAcks(ctx, prod, time.Time{}, 50, cfg.RecoveryTimeout); err != nil {
		return res, fmt.Errorf("clustertest: first acknowledgements: %w", err)
	}
	for i := range cfg.Kills {
		k, err := killLeaderOnce(ctx, c, cl, prod, cfg)
		if err != nil {
			return res, fmt.Errorf("kill %d: %w", i+1, err)
		}
		res.Kills = append(res.Kills, k)
		fmt.Fprintf(cfg.Log, "kill %2d: node %d (leader epoch %d, controller %v) -> leader %d (epoch %d), gap %v\n",
			i+1, k.Victim, k.VictimEpoch, k.VictimWasController, k.NewLeader, k.NewEpoch, k.Gap().Round(time.Millisecond))
		if err := c.Start(ctx, k.Victim); err != nil {
			return res, fmt.Errorf("kill %d: restart node %d: %w", i+1, k.Victim, err)
		}
		if err := WaitFullISR(ctx, c, cl, cfg.Topic, 1); err != nil {
			return res, fmt.Errorf("kill %d: %w", i+1, err)
		}
	}
	stopCtx, cancel := context.WithTimeout(ctx, cfg.RecoveryTimeout)
	defer cancel()
	acks, errs, sent := prod.Stop(stopCtx)
	stopped = true
	res.Acked, res.Failed, res.Sent = len(acks), len(errs), sent
	reads, err := ReadBack(ctx, c, cfg.Topic, 0)
	if err != nil {
		return res, err
	}
	res.CheckErr = Check(prefix, acks, reads, nil)
	return res, nil
}

// killLeaderOnce kills partition 0's leader while prod runs and measures
// the acknowledgement gap. Responses the victim wrote before it died still
// reach the client afterwards (they sit in the kernel's socket buffers), so
// "the first acknowledgement after the kill" would often be one of those;
// the gap is instead the longest pause between consecutive
// acknowledgements from just before the kill until acknowledgements flow
// again past anything that was in flight at the kill.
func killLeaderOnce(ctx context.Context, c cluster.Cluster, cl *kgo.Client, prod *Producer, cfg FailoverConfig) (KillResult, error) {
	var k KillResult
	st, err := WaitLeader(ctx, c, cl, cfg.Topic, 0, -1)
	if err != nil {
		return k, err
	}
	k.Victim, k.VictimEpoch = st.Leader, st.LeaderEpoch
	if ctrl, err := c.ActiveController(ctx); err == nil {
		k.VictimWasController = ctrl == k.Victim
	}
	// Kill only while acknowledgements flow, so the gap measures the
	// failover and not a pause that began before it.
	if err := waitAcks(ctx, prod, time.Now(), 20, cfg.RecoveryTimeout); err != nil {
		return k, err
	}
	k.KilledAt = time.Now()
	if err := c.Kill(ctx, k.Victim); err != nil {
		return k, err
	}
	if err := waitAcks(ctx, prod, k.KilledAt, prod.cfg.InFlight+50, cfg.RecoveryTimeout); err != nil {
		return k, fmt.Errorf("after killing node %d: %w", k.Victim, err)
	}
	k.LastAckBefore, k.FirstAckAfter = longestPause(prod.Acks(), k.KilledAt.Add(-time.Second))
	now, err := WaitLeader(ctx, c, cl, cfg.Topic, 0, k.Victim)
	if err != nil {
		return k, err
	}
	k.NewLeader, k.NewEpoch = now.Leader, now.LeaderEpoch
	return k, nil
}

// longestPause returns the ends of the longest interval between
// consecutive acknowledgements settled after from.
func longestPause(acks []Ack, from time.Time) (start, end time.Time) {
	var prev time.Time
	for _, a := range acks {
		if a.At.Before(from) {
			continue
		}
		if !prev.IsZero() && a.At.Sub(prev) > end.Sub(start) {
			start, end = prev, a.At
		}
		prev = a.At
	}
	return start, end
}

// waitAcks waits until at least n acknowledgements settled after since.
func waitAcks(ctx context.Context, prod *Producer, since time.Time, n int, timeout time.Duration) error {
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for prod.AckedSince(since) < n {
		select {
		case <-wctx.Done():
			return fmt.Errorf("%w: %d of %d acknowledgements within %v", ErrNoRecovery, prod.AckedSince(since), n, timeout)
		case <-time.After(5 * time.Millisecond):
		}
	}
	return nil
}
