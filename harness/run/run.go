package run

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/highwater-io/highwater/checker"
	"github.com/highwater-io/highwater/harness/cluster"
	"github.com/highwater-io/highwater/harness/workload"
	"github.com/highwater-io/highwater/history"
	"github.com/highwater-io/highwater/internal/seed"
	"github.com/highwater-io/highwater/nemesis"
	"github.com/highwater-io/highwater/reports"
)

// Options are what a run needs besides its scenario.
type Options struct {
	// RunsDir is the root of run directories ("runs" when empty).
	RunsDir string
	Seed    int64
	// Out receives progress lines and, at the end, summary.txt; nil
	// discards.
	Out io.Writer
	// Status, when set (a terminal), shows a live one-line status
	// (progress.go) redrawn in place; nil shows only Out's lines.
	Status io.Writer
	// Logger receives the clients' and nemesis's log; nil discards.
	Logger *slog.Logger
	// Replay, when set, renders the replay command (scenario suites name
	// their own); the default is Scenario.ReplayCommand.
	Replay func(seed int64, faults []string) string
}

// Result is what a run found.
type Result struct {
	Dir     string
	Verdict checker.Validity
	Summary checker.Summary
	Figures Figures
	Replay  string
	// Converged and Drained say whether recovery and the drain completed
	// within their bounds.
	Converged, Drained bool
	// Text is summary.txt.
	Text string
}

// ExitCode is the CLI's exit status for the verdict: 0 valid, 1 invalid,
// 2 unknown.
func (r Result) ExitCode() int {
	switch r.Verdict {
	case checker.Valid:
		return 0
	case checker.Invalid:
		return 1
	default:
		return 2
	}
}

// runState carries one run through its phases.
type runState struct {
	sc   Scenario
	opts Options
	dir  string
	info Info
	out  io.Writer
	log  *slog.Logger
	// status is the live status line; nil without Options.Status.
	status *status
}

func (s *runState) say(format string, args ...any) {
	s.status.print(func() { fmt.Fprintf(s.out, format+"\n", args...) })
}

func (s *runState) save() error { return writeJSON(filepath.Join(s.dir, RunJSON), s.info) }

// fail records a harness error in run.json and returns it.
func (s *runState) fail(err error) error {
	s.info.Error = err.Error()
	s.info.End = time.Now().UTC()
	_ = s.save()
	return err
}

// Run carries out one run of sc (see the package doc).
func Run(ctx context.Context, sc Scenario, opts Options) (Result, error) {
	sc = sc.Defaults()
	if err := sc.Validate(); err != nil {
		return Result{}, err
	}
	if opts.RunsDir == "" {
		opts.RunsDir = "runs"
	}
	s := &runState{sc: sc, opts: opts, out: opts.Out, log: opts.Logger}
	if s.out == nil {
		s.out = io.Discard
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.log = s.log.With("seed", opts.Seed)
	s.status = startStatus(opts.Status, time.Now())
	defer s.status.stop()
	start := time.Now().UTC()
	s.dir = Dir(opts.RunsDir, sc.Name, start, opts.Seed)
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return Result{}, fmt.Errorf("run: %w", err)
	}
	s.info = Info{Scenario: sc.Name, Seed: opts.Seed, Commit: gitCommit(ctx), Start: start,
		Cluster: sc.Cluster.String(), Workload: workloadInfo(sc.Workload)}
	s.info.Workload.Kind = sc.Kind
	res := Result{Dir: s.dir}
	s.say("run %s seed %d → %s", sc.Name, opts.Seed, s.dir)
	if err := s.save(); err != nil {
		return res, err
	}

	s.say("starting %s", sc.Cluster)
	c, err := StartCluster(ctx, sc.Cluster, filepath.Join(s.dir, ClusterDir))
	if err != nil {
		return res, s.fail(fmt.Errorf("run: start cluster: %w", err))
	}
	closed := false
	closeCluster := func() {
		if closed {
			return
		}
		closed = true
		cctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := c.Close(cctx); err != nil {
			s.log.Warn("close cluster", "err", err)
		}
	}
	defer closeCluster()
	for _, n := range c.Nodes() {
		s.info.Nodes = append(s.info.Nodes, NodeInfo{ID: n.ID, Rack: n.Rack, Addr: n.Addr, Log: c.Logs(n.ID)})
	}
	if err := linkLogs(s.dir, s.info.Nodes); err != nil {
		s.log.Warn("link logs", "err", err)
	}

	env, netErr := NemesisEnv(c, nemesis.NewRand(seed.Derive(opts.Seed, "nemesis/targets")), s.log.With("component", "nemesis"))
	// Coordinator faults aim at the workload's own transactional ids, and
	// are unavailable to a workload without transactions.
	env.TransactionalIDs = sc.Workload.TransactionalIDs(sc.Kind)
	env.NoTransactions = len(env.TransactionalIDs) == 0
	sched, err := s.schedule(env, netErr)
	if err != nil {
		return res, s.fail(err)
	}
	res.Replay = s.info.Replay
	if err := writeSchedule(filepath.Join(s.dir, NemesisJSONL), sched); err != nil {
		return res, s.fail(err)
	}
	if err := s.save(); err != nil {
		return res, err
	}

	histPath := filepath.Join(s.dir, HistoryJSONL)
	hw, err := history.Create(histPath, history.Header{ // Start: time 0, set by the writer
		Scenario: sc.Name, Seed: opts.Seed, Commit: s.info.Commit,
		Params: map[string]string{"cluster": s.info.Cluster, "schedule": sched.Compact(), "replay": s.info.Replay, "workload": sc.Kind, "acks": cmp.Or(sc.Workload.Acks, "all"),
			history.ParamHWCheckpoint: hwCheckpoint(sc.Cluster).String()},
	})
	if err != nil {
		return res, s.fail(err)
	}
	defer hw.Close()
	s.status.watch(histPath, sc.Workload.Duration)

	res.Converged, res.Drained, err = s.execute(ctx, c, env, sched, hw)
	if err != nil {
		return res, s.fail(err)
	}
	s.recordReplicas(ctx, c, hw, closeCluster)
	if err := hw.Close(); err != nil {
		return res, s.fail(err)
	}
	closeCluster() // free the CPU for the checker
	return s.judge(ctx, histPath, res)
}

// hwCheckpoint is how old the high watermark a broker of c killed with -9
// restarts from may be: its checkpoint interval, recorded in the history
// header for the checker's restart excuse
// (checker.Linearizability.StaleHWCheckpoint). Apache Kafka's is
// replica.high.watermark.checkpoint.interval.ms (5 s unless the scenario
// sets it); the rest get the reference broker's 100 ms, the stricter
// value: Redpanda's Raft keeps no such ISR checkpoint, and kfake and an
// address cluster are never killed.
func hwCheckpoint(c ClusterConfig) time.Duration {
	switch c.Impl {
	case ImplKafka, ImplContainerKafka:
		if ms, err := strconv.ParseInt(c.Set["replica.high.watermark.checkpoint.interval.ms"], 10, 64); err == nil && ms > 0 {
			return time.Duration(ms) * time.Millisecond
		}
		return checker.KafkaStaleHWCheckpoint
	default:
		return checker.DefaultStaleHWCheckpoint
	}
}

// schedule picks the faults and builds the schedule; it fills the run
// info's faults, availability, schedule and replay command.
func (s *runState) schedule(env nemesis.Env, netErr error) (nemesis.Schedule, error) {
	avail, why := AvailableFaults(env)
	s.info.Unavailable = map[string]string{}
	for name, err := range why {
		s.info.Unavailable[name] = err.Error()
	}
	if netErr != nil {
		s.say("network faults unavailable: %v", netErr)
	}
	nemSeed := seed.Derive(s.opts.Seed, "nemesis")
	var sched nemesis.Schedule
	var faults []string
	if s.sc.Schedule != "" {
		var err error
		if sched, err = nemesis.Parse(s.sc.Schedule); err != nil {
			return sched, err
		}
		for _, st := range sched.Steps {
			faults = append(faults, st.Fault)
		}
	} else {
		faults = s.sc.Faults
		if faults == nil {
			faults = avail
		}
		for _, f := range faults {
			if err, bad := why[f]; bad {
				return sched, fmt.Errorf("run: fault %s: %w", f, err)
			}
			if _, ok := nemesis.Lookup(f); !ok {
				return sched, fmt.Errorf("run: %w: %q (known: %s)", nemesis.ErrUnknownFault, f, strings.Join(nemesis.Names(), ","))
			}
		}
		total := s.sc.Workload.Duration - s.sc.FaultTail
		sched = nemesis.Generate(nemSeed, faults, total, s.sc.MeanQuiet, s.sc.MeanFault)
		aimAtWorkload(sched, s.sc.Workload, seed.Rand(s.opts.Seed, "nemesis/leaders"))
	}
	s.info.Faults = faults
	s.info.Schedule = sched.Compact()
	if s.opts.Replay != nil {
		s.info.Replay = s.opts.Replay(s.opts.Seed, faults)
	} else {
		s.info.Replay = s.sc.ReplayCommand(s.opts.Seed, faults)
	}
	s.say("schedule: %s", sched.Compact())
	return sched, nil
}

// execute runs the workload and the nemesis, heals, recovers and drains.
// The error is a harness failure; convergence and drain outcomes are
// returned as flags (and recorded in run.json).
func (s *runState) execute(ctx context.Context, c cluster.Cluster, env nemesis.Env, sched nemesis.Schedule, hw *history.Writer) (converged, drained bool, err error) {
	wcfg := s.sc.Workload
	wcfg.Bootstrap = c.Bootstrap()
	wcfg.Seed = seed.Derive(s.opts.Seed, "workload")
	wcfg.Logger = s.log.With("component", "workload")
	w, err := newWorkload(s.sc, wcfg, hw)
	if err != nil {
		return false, false, err
	}
	tctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	err = w.EnsureTopic(tctx)
	cancel()
	if err != nil {
		return false, false, err
	}
	if _, err := hw.Phase(history.PhaseWorkload, ""); err != nil {
		return false, false, err
	}
	s.say("workload %v, %d fault windows", wcfg.Duration, len(sched.Steps))
	var wg sync.WaitGroup
	var werr, nerr error
	wg.Go(func() { werr = w.Run(ctx) })
	wg.Go(func() { nerr = nemesis.Run(ctx, env, sched, hw) })
	wg.Wait()
	if herr := healAll(ctx, c, env); herr != nil {
		s.log.Warn("heal", "err", herr)
		nerr = errors.Join(nerr, herr)
	}
	if werr != nil {
		return false, false, werr
	}
	if nerr != nil {
		// The faults did not run (or heal) as scheduled: the history is
		// still sound, but the run says so.
		s.say("nemesis: %v", nerr)
		s.info.Error = "nemesis: " + nerr.Error()
	}

	s.say("recovery (bound %v)", s.sc.RecoveryTimeout)
	rctx, cancel := context.WithTimeout(ctx, s.sc.RecoveryTimeout)
	rerr := w.Recover(rctx)
	cancel()
	converged = rerr == nil
	s.info.Converged = &converged
	if rerr != nil {
		s.info.Recovery = fmt.Sprintf("did not converge within %v: %v", s.sc.RecoveryTimeout, rerr)
		s.say("recovery: %s", s.info.Recovery)
	}
	s.say("drain (bound %v)", s.sc.DrainTimeout)
	dctx, cancel := context.WithTimeout(ctx, s.sc.DrainTimeout)
	derr := w.Drain(dctx)
	cancel()
	drained = derr == nil
	s.info.Drained = &drained
	if derr != nil {
		s.info.Drain = derr.Error()
		s.say("drain: %v", derr)
	}
	return converged, drained, nil
}

// judge checks the history, writes results and summary, and fills res.
func (s *runState) judge(ctx context.Context, histPath string, res Result) (Result, error) {
	s.status.phase("checking")
	s.say("checking %s", histPath)
	cctx, cancel := context.WithTimeout(ctx, s.sc.CheckTimeout)
	sum, err := checker.Check(cctx, histPath, s.dir)
	cancel()
	if err != nil {
		return res, s.fail(err)
	}
	res.Summary = sum
	res.Verdict = sum.Valid
	var notes []string
	if !res.Converged {
		notes = append(notes, "recovery: "+s.info.Recovery)
	}
	if !res.Drained {
		notes = append(notes, "drain incomplete: "+s.info.Drain)
	}
	if len(notes) > 0 {
		res.Verdict = checker.Combine(res.Verdict, checker.Unknown)
	}
	if h, err := history.Load(histPath); err == nil {
		res.Figures = ComputeFigures(h)
		s.info.Figures = &res.Figures
	}
	var b strings.Builder
	b.WriteString(sum.Text())
	b.WriteString("\n")
	fmt.Fprintf(&b, "cluster: %s\n", s.info.Cluster)
	fmt.Fprintf(&b, "schedule: %s\n", s.info.Schedule)
	b.WriteString(res.Figures.Text())
	for _, n := range notes {
		fmt.Fprintf(&b, "%s\n", n)
	}
	fmt.Fprintf(&b, "run verdict: %s\n", strings.ToUpper(res.Verdict.String()))
	fmt.Fprintf(&b, "run directory: %s\n", s.dir)
	if res.Verdict != checker.Valid {
		fmt.Fprintf(&b, "replay: %s\n", s.info.Replay)
	}
	res.Text = b.String()
	if err := os.WriteFile(filepath.Join(s.dir, SummaryTxt), []byte(res.Text), 0o644); err != nil {
		return res, s.fail(fmt.Errorf("run: %w", err))
	}
	s.info.Verdict = res.Verdict.String()
	s.info.End = time.Now().UTC()
	if err := s.save(); err != nil {
		return res, err
	}
	// report.html is for people; a run without one still has its verdict.
	if err := reports.WriteRunReport(s.dir); err != nil {
		s.say("report.html: %v", err)
	}
	s.status.stop()
	fmt.Fprint(s.out, "\n"+res.Text)
	return res, nil
}

// workloadRunner is what execute needs of a workload; the queue, txn and
// eos workloads all have it.
type workloadRunner interface {
	EnsureTopic(ctx context.Context) error
	Run(ctx context.Context) error
	Recover(ctx context.Context) error
	Drain(ctx context.Context) error
}

// newWorkload builds the scenario's kind of workload over cfg.
func newWorkload(sc Scenario, cfg workload.Config, hw *history.Writer) (workloadRunner, error) {
	switch sc.Kind {
	case WorkloadTxn:
		return workload.NewTxn(cfg, hw, sc.Txn)
	case WorkloadEOS:
		return workload.NewEOS(cfg, hw, sc.Txn, 0)
	}
	return workload.New(cfg, hw)
}

func workloadInfo(c workload.Config) WorkloadInfo {
	return WorkloadInfo{
		Topic: c.Topic, Partitions: c.Partitions, ReplicationFactor: c.ReplicationFactor,
		MinInsyncReplicas: c.MinInsyncReplicas, Producers: c.Producers,
		AssignConsumers: c.AssignConsumers, GroupConsumers: c.GroupConsumers, Readers: c.Readers,
		SendRatePerSec: c.SendRatePerSec, ReadRatePerSec: c.ReadRatePerSec,
		RecordBytes: c.RecordBytes, Duration: c.Duration.String(),
	}
}

// aimAtWorkload points generated "leader" steps at a partition of the
// workload's topic, drawn from rnd: left alone, the selector picks among
// every partition of the cluster, mostly the 50 of __consumer_offsets, and
// the fault would rarely touch the partitions under test. The chosen
// partition is written into the schedule, so the replay needs no rnd.
func aimAtWorkload(s nemesis.Schedule, w workload.Config, rnd interface{ IntN(int) int }) {
	for i, st := range s.Steps {
		if st.Select == nemesis.SelectLeader {
			s.Steps[i].Select = fmt.Sprintf("%s:%s/%d", nemesis.SelectLeader, w.Topic, rnd.IntN(w.Partitions))
		}
	}
}
