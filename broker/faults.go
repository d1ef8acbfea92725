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
	"time"

	"github.com/highwater-io/highwater/broker/internal/faults"
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
		b.log.Warn("FAULT SEAM: clock skew endpoint on", "path", faults.ClockPath)
	}
	if len(f.planted) > 0 {
		faults.Plant(f.planted...)
		for _, bug := range f.planted {
			b.log.Error("PLANTED BUG ACTIVE: this broker is deliberately unsafe", "bug", string(bug), "property", "highwater.planted.bug")
		}
	}
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
