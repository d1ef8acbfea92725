package broker

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/highwater-io/highwater/broker/internal/config"
	"github.com/highwater-io/highwater/broker/internal/faults"
	"github.com/highwater-io/highwater/broker/internal/handler"
	"github.com/highwater-io/highwater/broker/internal/metrics"
	"github.com/highwater-io/highwater/broker/internal/topics"
	"github.com/highwater-io/highwater/broker/internal/txn"
	"github.com/highwater-io/highwater/broker/internal/wire"
	"github.com/highwater-io/highwater/internal/vfs"
)

// Broker is one running broker node.
type Broker struct {
	cfg     Config
	s       *settings
	log     *slog.Logger
	ln      net.Listener
	catalog *topics.Catalog
	groups  *groupStore
	txns    *txn.Service // single-node transaction coordinator (txn.go); nil in cluster mode
	// clusterTxn is the cluster's transaction coordinator (cluster_txn.go).
	clusterTxn *clusterTxn
	handler    *handler.Server
	wire       *wire.Server
	unlock     func()
	clusterID  string
	// advertisedPort is the PLAINTEXT port registered with the controller
	// (cluster mode).
	advertisedPort int32
	metrics        *metrics.Metrics
	metricsLn      net.Listener // nil: highwater.metrics.listener unset

	// Cluster mode only: the metadata plane (groups live in it; b.groups
	// is nil).
	cluster *clusterNode

	// Fault seams (faults.go): nil unless their properties are set.
	pageCache *vfs.PageCache
	clock     *faults.Clock
}

// New validates cfg, opens and recovers the data directory and binds the
// listener. Nothing is served until Run.
func New(cfg Config) (*Broker, error) {
	s, err := cfg.resolve()
	if err != nil {
		return nil, err
	}
	if cfg.FS == nil {
		cfg.FS = vfs.OS
	}
	if cfg.Listen == nil {
		cfg.Listen = net.Listen
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Random == nil {
		cfg.Random = rand.Reader
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	b := &Broker{cfg: cfg, s: s, log: cfg.Logger.With("node", s.nodeID)}
	for _, w := range s.warnings {
		b.log.Warn(w)
	}
	b.installFaults()
	if err := b.open(); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

func (b *Broker) open() error {
	if err := b.cfg.FS.MkdirAll(b.s.dataDir, 0o755); err != nil {
		return fmt.Errorf("log.dirs %s: %w", b.s.dataDir, err)
	}
	unlock, err := lockDir(b.cfg.FS, b.s.dataDir)
	if err != nil {
		return err
	}
	b.unlock = unlock
	if b.clusterID, err = b.loadMeta(); err != nil {
		return err
	}
	start := b.cfg.Now()
	b.catalog, err = topics.Open(topics.Options{FS: b.cfg.FS, Dir: b.s.dataDir, Broker: b.s.props, Now: b.cfg.Now, Random: b.cfg.Random,
		Managed: b.s.cluster != nil})
	if err != nil {
		return err
	}
	b.log.Info("recovered logs", "dir", b.s.dataDir, "topics", len(b.catalog.List()), "took", b.cfg.Now().Sub(start))
	if b.s.cluster == nil { // cluster mode: groups live on the cluster (cluster_groups.go)
		if b.groups, err = openGroups(b.catalog, b.catalog, b.s.props, b.cfg.Now, b.log); err != nil {
			return err
		}
	}
	b.ln, err = b.cfg.Listen("tcp", b.s.listenAddr)
	if err != nil {
		return fmt.Errorf("listeners: binding %s: %w", b.s.listenAddr, err)
	}
	advertisedPort := b.s.advertisedPort
	if advertisedPort == 0 {
		if tcp, ok := b.ln.Addr().(*net.TCPAddr); ok {
			advertisedPort = int32(tcp.Port)
		}
	}
	b.metrics = metrics.New(b.catalog)
	if addr := b.s.props.String("highwater.metrics.listener"); addr != "" {
		if b.metricsLn, err = b.cfg.Listen("tcp", addr); err != nil {
			return fmt.Errorf("highwater.metrics.listener: binding %s: %w", addr, err)
		}
	}
	var producerIDs handler.ProducerIDs
	var cluster handler.Cluster
	var replication handler.Replication
	var groups handler.Groups
	if b.groups != nil {
		groups = b.groups.service
	}
	if b.s.cluster != nil {
		if err := b.openCluster(); err != nil {
			return err
		}
		b.advertisedPort = advertisedPort
		producerIDs, cluster, replication, groups = b.cluster, b.cluster, b.cluster.repl, b.cluster.groups
	} else if producerIDs, err = topics.OpenProducerIDs(b.cfg.FS, b.s.dataDir); err != nil {
		return err
	}
	// The transaction coordinator wraps the producer id allocator (txn.go,
	// cluster_txn.go): the handlers reach it through ProducerIDs.
	if producerIDs, err = b.openTransactions(producerIDs); err != nil {
		return err
	}
	b.handler = handler.New(handler.Config{
		NodeID:         b.s.nodeID,
		AdvertisedHost: b.s.advertisedHost,
		AdvertisedPort: advertisedPort,
		Rack:           b.s.props.String("broker.rack"),
		ClusterID:      b.clusterID,
		Broker:         b.s.props,
		Topics:         b.catalog,
		Groups:         groups,
		ProducerIDs:    producerIDs,
		Now:            b.cfg.Now,
		Logger:         b.log,
		Metrics:        b.metrics,
		Cluster:        cluster,
		Replication:    replication,
		OnTxnMarker:    b.onTxnMarker,
		// KIP-890 part 1: the produce path asks the coordinator (txn.go).
		VerifyTxnPartition: b.verifyTxnPartition,
		// KIP-392 follower fetching (cluster.go).
		PreferredReadReplica: b.preferredReadReplica,
	})
	b.wire = wire.New(wire.Config{Handler: b.handler, MaxRequestBytes: int32(b.s.props.Int64("socket.request.max.bytes")), Logger: b.log})
	return nil
}

// Addr is the bound listener address.
func (b *Broker) Addr() net.Addr { return b.ln.Addr() }

// MetricsAddr is the bound address of the Prometheus /metrics listener, or
// nil when highwater.metrics.listener is unset.
func (b *Broker) MetricsAddr() net.Addr {
	if b.metricsLn == nil {
		return nil
	}
	return b.metricsLn.Addr()
}

// ClusterID is the id stored in meta.properties.
func (b *Broker) ClusterID() string { return b.clusterID }

// Run serves until ctx is done, then stops accepting, finishes the loops
// and returns. Close releases storage afterwards.
func (b *Broker) Run(ctx context.Context) error {
	b.log.Info("broker started", "listener", b.ln.Addr().String(), "cluster.id", b.clusterID, "log.dirs", b.s.dataDir)
	if b.cluster != nil {
		// Registered before serving: the controller unfences this node
		// only once the driver below has caught the catalogue up.
		if err := b.cluster.startLifecycle(b.s.advertisedHost, b.advertisedPort, b.s.props.String("broker.rack"), b.cfg.Random); err != nil {
			return err
		}
	}
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return b.wire.Serve(ctx, b.ln) })
	if b.groups != nil {
		g.Go(func() error { b.groups.service.Run(ctx); return nil })
	}
	if b.txns != nil {
		g.Go(func() error { b.txns.Run(ctx); return nil })
	}
	g.Go(func() error { b.retentionLoop(ctx); return nil })
	if b.s.props.Bool("log.cleaner.enable") {
		cleaner := b.newCleaner() // cleaner.go: compacts cleanup.policy=compact logs
		g.Go(func() error { cleaner.run(ctx); return nil })
	}
	g.Go(func() error { b.flushLoop(ctx); return nil })
	if b.cluster != nil {
		g.Go(func() error { b.cluster.drive(ctx); return nil })
		g.Go(func() error { b.cluster.repl.run(ctx); return nil })
	}
	if b.metricsLn != nil {
		b.log.Info("serving metrics", "url", "http://"+b.metricsLn.Addr().String()+"/metrics")
		g.Go(func() error { return b.serveMetrics(ctx) })
	}
	b.metrics.SetBrokerState(metrics.BrokerStateRunning)
	err := g.Wait()
	b.metrics.SetBrokerState(metrics.BrokerStateShuttingDown)
	return err
}

// retentionLoop deletes expired segments every log.retention.check.interval.ms.
func (b *Broker) retentionLoop(ctx context.Context) {
	interval := time.Duration(b.s.props.Int64("log.retention.check.interval.ms")) * time.Millisecond
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			n, err := b.catalog.EnforceRetention()
			if err != nil {
				b.log.Error("retention", "err", err)
			}
			if n > 0 {
				b.log.Info("retention deleted segments", "segments", n)
				b.catalog.Notify()
			}
		}
	}
}

// flushLoop fsyncs every log every log.flush.interval.ms, when that is set
// to something shorter than "never".
func (b *Broker) flushLoop(ctx context.Context) {
	ms := b.s.props.Int64("log.flush.interval.ms")
	if ms <= 0 || ms >= math.MaxInt64/int64(time.Millisecond) {
		return
	}
	t := time.NewTicker(time.Duration(ms) * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := b.catalog.Flush(); err != nil {
				b.log.Error("periodic flush", "err", err)
			}
		}
	}
}

// Close flushes and closes storage and the listener. Call after Run returns
// (or instead of Run).
func (b *Broker) Close() error {
	var errs []error
	if b.ln != nil {
		b.ln.Close()
	}
	if b.metricsLn != nil {
		b.metricsLn.Close()
	}
	if b.clusterTxn != nil {
		b.clusterTxn.close()
	}
	if b.cluster != nil {
		errs = append(errs, b.cluster.close())
	}
	if b.catalog != nil {
		errs = append(errs, b.catalog.Close())
	}
	if b.pageCache != nil { // a clean shutdown leaves everything on disk
		errs = append(errs, b.pageCache.WriteBack())
	}
	if b.unlock != nil {
		b.unlock()
	}
	return errors.Join(errs...)
}

// loadMeta reads or creates meta.properties, as Kafka keeps it: the cluster
// id and this node's id, which must not change under existing data.
func (b *Broker) loadMeta() (string, error) {
	path := filepath.Join(b.s.dataDir, "meta.properties")
	f, err := b.cfg.FS.OpenFile(path, os.O_RDONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		var clusterID string
		if b.s.cluster != nil {
			clusterID = b.s.cluster.clusterID
		} else {
			var id [16]byte
			if _, err := io.ReadFull(b.cfg.Random, id[:]); err != nil {
				return "", err
			}
			clusterID = base64.RawURLEncoding.EncodeToString(id[:])
		}
		data := fmt.Sprintf("# written by highwater\nversion=1\ncluster.id=%s\nnode.id=%d\n", clusterID, b.s.nodeID)
		return clusterID, vfs.WriteFileAtomic(b.cfg.FS, path, []byte(data), 0o644)
	}
	if err != nil {
		return "", err
	}
	defer f.Close()
	meta, err := config.ParseProperties(f)
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	if stored := meta["node.id"]; stored != strconv.Itoa(int(b.s.nodeID)) {
		return "", fmt.Errorf("%s: the data belongs to node.id %s but this broker is configured as node.id %d", path, stored, b.s.nodeID)
	}
	if strings.TrimSpace(meta["cluster.id"]) == "" {
		return "", fmt.Errorf("%s has no cluster.id", path)
	}
	if b.s.cluster != nil && meta["cluster.id"] != b.s.cluster.clusterID {
		return "", fmt.Errorf("%s: the data belongs to cluster.id %s but this node is configured for cluster.id %s", path, meta["cluster.id"], b.s.cluster.clusterID)
	}
	return meta["cluster.id"], nil
}
