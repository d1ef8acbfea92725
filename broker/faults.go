package broker

// Fault seams and planted bugs (broker/internal/faults): the page-cache
// filesystem, the skewable clock and its /fault/clock endpoint, and the
// process-wide planted bugs. All off unless their properties are set.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/highwater-io/highwater/broker/internal/faults"
	"github.com/highwater-io/highwater/broker/internal/replica"
	"github.com/highwater-io/highwater/broker/internal/topics"
	"github.com/highwater-io/highwater/internal/vfs"
)

// faultSettings is the resolved fault configuration.
type faultSettings struct {
	pageCache bool
	endpoints bool
	planted   []faults.Bug
}

func resolveFaults(s *settings) (faultSettings, error) {
	fs := faultSettings{pageCache: s.props.Bool("highwater.fault.page.cache"), endpoints: s.props.Bool("highwater.fault.endpoints")}
	var err error
	if fs.planted, err = faults.ParseBugs(s.props.String("highwater.planted.bug")); err != nil {
		return fs, fmt.Errorf("invalid configuration: highwater.planted.bug: %w", err)
	}
	if fs.endpoints && strings.TrimSpace(s.props.String("highwater.metrics.listener")) == "" {
		return fs, errors.New("invalid configuration: highwater.fault.endpoints needs highwater.metrics.listener")
	}
	for _, b := range fs.planted {
		if b == faults.LoseFsync {
			fs.pageCache = true // the lie needs a cache to keep the data in
		}
	}
	return fs, nil
}

// segmentFile reports whether name is a partition segment file, the files
// the lose-fsync bug lies about (the metadata log, checkpoints and
// meta.properties keep honest fsyncs so the node can still start).
func segmentFile(name string) bool {
	if strings.Contains(name, metadataDirName) {
		return false
	}
	switch filepath.Ext(name) {
	case ".log", ".index", ".timeindex":
		return true
	}
	return false
}

// installFaults applies the fault settings to b.cfg before storage opens:
// the page cache under FS, the skewable clock under Now, the planted bugs
// (logged loudly).
func (b *Broker) installFaults() {
	f := b.s.faults
	if f.pageCache {
		pc := vfs.NewPageCache(b.cfg.FS)
		if faults.Planted(faults.LoseFsync) || containsBug(f.planted, faults.LoseFsync) {
			pc.SetLoseSync(segmentFile)
		}
		b.pageCache = pc
		b.cfg.FS = pc
		b.log.Warn("FAULT SEAM: page cache on: unsynced writes are lost on kill -9", "property", "highwater.fault.page.cache")
	}
	if f.endpoints {
		b.clock = faults.NewClock(b.cfg.Now)
		b.cfg.Now = b.clock.Now
		b.log.Warn("FAULT SEAM: fault endpoints on", "paths", []string{faults.ClockPath, faults.ReplicationPath})
	}
	if d := time.Duration(b.s.props.Int64("highwater.fault.replica.fetch.delay.ms")) * time.Millisecond; d > 0 {
		faults.SetReplicaFetchDelay(d)
		b.log.Warn("FAULT SEAM: follower fetches delayed", "delay", d, "property", "highwater.fault.replica.fetch.delay.ms")
	}
	if d := time.Duration(b.s.props.Int64("highwater.fault.replica.restart.delay.ms")) * time.Millisecond; d > 0 && b.restarting() {
		// Wall time, not b.cfg.Now: a clock skew must not end the hold.
		faults.HoldReplicaFetches(time.Now().Add(d), time.Now)
		b.log.Warn("FAULT SEAM: restarted over existing logs: no follower fetch for a while", "hold", d, "property", "highwater.fault.replica.restart.delay.ms")
	}
	if d := time.Duration(b.s.props.Int64("highwater.fault.produce.answer.delay.ms")) * time.Millisecond; d > 0 {
		faults.SetProduceAnswerDelay(d)
		b.log.Warn("FAULT SEAM: produce answers delayed after the append", "delay", d, "property", "highwater.fault.produce.answer.delay.ms")
	}
	if len(f.planted) > 0 {
		faults.Plant(f.planted...)
		for _, bug := range f.planted {
			b.log.Error("PLANTED BUG ACTIVE: this broker is deliberately unsafe", "bug", string(bug), "property", "highwater.planted.bug")
		}
	}
}

// restarting reports whether this start finds partition logs in log.dirs
// (a directory <topic>-<partition> besides the metadata log's): a
// restart, not a cluster's first start.
func (b *Broker) restarting() bool {
	names, err := b.cfg.FS.ReadDir(b.s.dataDir)
	if err != nil {
		return false
	}
	for _, name := range names {
		if name == metadataDirName {
			continue
		}
		if i := strings.LastIndexByte(name, '-'); i > 0 && i < len(name)-1 && strings.Trim(name[i+1:], "0123456789") == "" {
			return true
		}
	}
	return false
}

func containsBug(bugs []faults.Bug, b faults.Bug) bool {
	for _, x := range bugs {
		if x == b {
			return true
		}
	}
	return false
}

// serveMetrics serves /metrics, plus /fault/clock with fault endpoints on,
// until ctx is done.
func (b *Broker) serveMetrics(ctx context.Context) error {
	if b.clock == nil {
		return b.metrics.Serve(ctx, b.metricsLn, b.log)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", b.metrics.Handler())
	mux.Handle(faults.ClockPath, b.clock.Handler())
	mux.Handle(faults.ReplicationPath, faults.ReplicationHandler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	stop := context.AfterFunc(ctx, func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	})
	defer stop()
	if err := srv.Serve(b.metricsLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("metrics listener: %w", err)
	}
	return nil
}

// ackedNow is the ack-before-replication planted bug's answer to an
// acks=all produce: done, before any follower fetched the records.
func ackedNow() <-chan error {
	ch := make(chan error, 1)
	ch <- nil
	return ch
}

// appendOverKeptTail is the skip-truncation planted bug's follower append.
// The truncation the leader-epoch protocol asked for was skipped, so the
// local log still holds its diverged tail where the state machine believes
// it holds the leader's records: fetched batches that fall entirely inside
// that tail are dropped (the diverged records stay, at the same offsets as
// the leader's different ones), a batch straddling its end replaces what it
// overlaps, and the rest is appended. The follower carries on replicating
// with a log that differs from the leader's below its end.
func appendOverKeptTail(tp *topics.Partition, w replica.LogWrite, fetched map[int64][]byte) error {
	for _, b := range w.Batches {
		raw, ok := fetched[b.BaseOffset]
		if !ok {
			return fmt.Errorf("fetch %d: no fetched batch at %d", w.FetchID, b.BaseOffset)
		}
		end := tp.Log.EndOffset()
		if b.LastOffset < end {
			continue
		}
		if b.BaseOffset < end {
			if err := tp.Log.TruncateTo(b.BaseOffset); err != nil {
				return err
			}
		}
		if err := tp.AppendReplica(raw); err != nil {
			return err
		}
	}
	return nil
}

// staleReadLag is how far behind the stale-read planted bug's answers are:
// about what a follower serving reads knows, a fetch round or more behind
// its leader on a loaded machine.
const staleReadLag = time.Second

// hwSample is one published high watermark and when it was seen.
type hwSample struct {
	at time.Time
	hw int64
}

// staleHWs keeps, per partition, the high watermarks of the last
// staleReadLag, for the stale-read planted bug.
var staleHWs = struct {
	sync.Mutex
	byPart map[*replPart][]hwSample
}{byPart: map[*replPart][]hwSample{}}

// staleHighWatermark is the stale-read planted bug: consumer fetches and
// ListOffsets are answered with the high watermark of staleReadLag ago, as
// a lagging follower serving reads would know it, so a read that starts
// after an acknowledgement may not see the acknowledged record (and the
// records it returns stop short of it).
func staleHighWatermark(rp *replPart, hw int64, now time.Time) int64 {
	staleHWs.Lock()
	defer staleHWs.Unlock()
	ss := staleHWs.byPart[rp]
	if len(ss) == 0 || ss[len(ss)-1].hw != hw {
		ss = append(ss, hwSample{at: now, hw: hw})
	}
	// Keep the newest sample at or before the horizon and all after it.
	horizon := now.Add(-staleReadLag)
	i := 0
	for i+1 < len(ss) && !ss[i+1].at.After(horizon) {
		i++
	}
	ss = ss[i:]
	staleHWs.byPart[rp] = ss
	return ss[0].hw
}
