package metaserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/highwater-io/highwater/broker/internal/controller"
	"github.com/highwater-io/highwater/broker/internal/metadata"
	"github.com/highwater-io/highwater/broker/internal/quorum"
	"github.com/highwater-io/highwater/internal/vfs"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func testLogger() *slog.Logger {
	if os.Getenv("METASERVER_DEBUG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
}

var racks = []string{"az-a", "az-b", "az-c"}

type clusterOpts struct {
	nodes          int
	memnet         *quorum.MemNet // nil: TCP on 127.0.0.1
	sessionMs      int64
	snapshotEvery  uint64
	noLifecycles   bool
	heartbeatEvery time.Duration
}

type tnode struct {
	id    int32
	fs    *vfs.MemFS
	srv   *Server
	lc    *BrokerLifecycle
	cl    *Client
	incID byte
}

// cluster runs metaservers in one process, each with a broker lifecycle
// (registration and heartbeats) going over the wire (TCP) or in-process
// through the leader (MemNet).
type cluster struct {
	t      *testing.T
	opts   clusterOpts
	voters []Voter
	lns    map[int32]net.Listener
	mu     sync.Mutex
	nodes  map[int32]*tnode
}

func newCluster(t *testing.T, opts clusterOpts) *cluster {
	t.Helper()
	if opts.sessionMs == 0 {
		opts.sessionMs = 1000
	}
	if opts.heartbeatEvery == 0 {
		opts.heartbeatEvery = 100 * time.Millisecond
	}
	c := &cluster{t: t, opts: opts, lns: map[int32]net.Listener{}, nodes: map[int32]*tnode{}}
	for i := 1; i <= opts.nodes; i++ {
		id := int32(i)
		addr := ""
		if opts.memnet == nil {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			c.lns[id], addr = ln, ln.Addr().String()
		}
		c.voters = append(c.voters, Voter{ID: id, Addr: addr})
		c.nodes[id] = &tnode{id: id, fs: vfs.NewMem()}
	}
	for i := 1; i <= opts.nodes; i++ {
		c.start(int32(i))
	}
	t.Cleanup(c.close)
	return c
}

func (c *cluster) config(id int32) Config {
	cfg := DefaultConfig()
	cfg.NodeID, cfg.Voters, cfg.Dir = id, c.voters, "/meta"
	c.mu.Lock()
	cfg.FS = c.nodes[id].fs
	c.mu.Unlock()
	cfg.Network = c.opts.memnet
	cfg.Listen = func(network, addr string) (net.Listener, error) {
		c.mu.Lock()
		ln := c.lns[id]
		delete(c.lns, id)
		c.mu.Unlock()
		if ln != nil {
			return ln, nil
		}
		return net.Listen(network, addr)
	}
	cfg.Logger = testLogger()
	cfg.Tick, cfg.ElectionTicks, cfg.HeartbeatTicks = 10*time.Millisecond, 10, 1
	cfg.ControllerTick = 20 * time.Millisecond
	cfg.ProposeTimeout = 2 * time.Second
	cfg.SnapshotEvery = c.opts.snapshotEvery
	cfg.ControllerConfig.SessionTimeoutMs = c.opts.sessionMs
	cfg.ControllerConfig.DefaultReplicationFactor = 3
	cfg.ControllerConfig.Seed = uint64(id)
	return cfg
}

func (c *cluster) start(id int32) {
	c.t.Helper()
	srv, err := New(c.config(id))
	if err != nil {
		c.t.Fatalf("node %d: New: %v", id, err)
	}
	if err := srv.Start(context.Background()); err != nil {
		c.t.Fatalf("node %d: Start: %v", id, err)
	}
	c.mu.Lock()
	n := c.nodes[id]
	n.srv = srv
	n.incID++
	inc := n.incID
	c.mu.Unlock()
	if c.opts.noLifecycles {
		return
	}
	var api ControllerAPI
	var cl *Client
	if c.opts.memnet == nil {
		cl = NewClient(ClientConfig{Voters: c.voters, LeaderHint: srv.Leader, RetryBackoff: 20 * time.Millisecond})
		api = cl
	} else {
		api = leaderRouter{c}
	}
	lc := NewBrokerLifecycle(LifecycleConfig{
		Registration: controller.Registration{BrokerID: id, IncarnationID: metadata.UUID{byte(id), inc},
			Rack: racks[(id-1)%int32(len(racks))], Endpoints: []metadata.Endpoint{{Name: "PLAINTEXT", Host: "127.0.0.1", Port: 9000 + id, SecurityProtocol: "PLAINTEXT"}}},
		Controller:        api,
		MetadataOffset:    func() int64 { return int64(srv.State().Offset) },
		HeartbeatInterval: c.opts.heartbeatEvery,
		RequestTimeout:    time.Second,
		Logger:            testLogger(),
	})
	lc.Start(context.Background())
	c.mu.Lock()
	n.lc, n.cl = lc, cl
	c.mu.Unlock()
}

// stop stops node id's broker lifecycle (no controlled shutdown) and its
// server, as a crash would.
func (c *cluster) stop(id int32) {
	c.t.Helper()
	c.mu.Lock()
	n := c.nodes[id]
	srv, lc, cl := n.srv, n.lc, n.cl
	n.srv, n.lc, n.cl = nil, nil, nil
	c.mu.Unlock()
	if lc != nil {
		lc.Stop()
	}
	if cl != nil {
		cl.Close()
	}
	if srv != nil {
		if err := srv.Stop(); err != nil {
			c.t.Errorf("node %d: Stop: %v", id, err)
		}
	}
}

func (c *cluster) close() {
	for _, v := range c.voters {
		c.stop(v.ID)
	}
	c.mu.Lock()
	for _, ln := range c.lns {
		_ = ln.Close()
	}
	c.mu.Unlock()
	if c.opts.memnet != nil {
		c.opts.memnet.Close()
	}
}

func (c *cluster) server(id int32) *Server {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n := c.nodes[id]; n != nil {
		return n.srv
	}
	return nil
}

func (c *cluster) running() []*Server {
	var out []*Server
	for _, v := range c.voters {
		if s := c.server(v.ID); s != nil {
			out = append(out, s)
		}
	}
	return out
}

// onLeader runs fn on the server that leads, following NOT_CONTROLLER
// answers, until ctx ends.
func onLeader(ctx context.Context, c *cluster, fn func(s *Server) error) error {
	target := int32(-1)
	for {
		s := c.server(target)
		if s == nil {
			rs := c.running()
			if len(rs) == 0 {
				return ErrStopped
			}
			s = rs[time.Now().Nanosecond()%len(rs)]
		}
		err := fn(s)
		var nc *NotControllerError
		if err == nil || !(errors.As(err, &nc) || errors.Is(err, ErrOutcomeUnknown) || errors.Is(err, ErrStopped)) {
			return err
		}
		target = -1
		if nc != nil {
			target = nc.Leader
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %w)", ctx.Err(), err)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// leaderRouter is the in-process ControllerAPI of the MemNet tests.
type leaderRouter struct{ c *cluster }

func (r leaderRouter) RegisterBroker(ctx context.Context, reg controller.Registration) (epoch int64, err error) {
	err = onLeader(ctx, r.c, func(s *Server) (e error) { epoch, e = s.RegisterBroker(ctx, reg); return })
	return
}

func (r leaderRouter) BrokerHeartbeat(ctx context.Context, hb Heartbeat) (rep HeartbeatReply, err error) {
	err = onLeader(ctx, r.c, func(s *Server) (e error) { rep, e = s.BrokerHeartbeat(ctx, hb); return })
	return
}

func (r leaderRouter) AlterPartition(ctx context.Context, id int32, epoch int64, items []controller.AlterPartitionItem) (res []controller.AlterPartitionResult, err error) {
	err = onLeader(ctx, r.c, func(s *Server) (e error) { res, e = s.AlterPartition(ctx, id, epoch, items); return })
	return
}

// eventually polls cond until it holds or the timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v: %v", what, timeout, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// allUnfenced: every running node's image has brokers ids registered,
// unfenced and active.
func allUnfenced(c *cluster, ids ...int32) func() error {
	return func() error {
		for _, s := range c.running() {
			img := s.State().Image
			for _, id := range ids {
				b, ok := img.Broker(id)
				if !ok || !b.Active() {
					return fmt.Errorf("node %d sees broker %d registered=%v %+v", s.NodeID(), id, ok, b)
				}
			}
		}
		return nil
	}
}
