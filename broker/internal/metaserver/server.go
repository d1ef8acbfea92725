package metaserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"

	"github.com/highwater-io/highwater/broker/internal/metadata"
	"github.com/highwater-io/highwater/broker/internal/quorum"
)

// Server is one node's metadata service in combined mode: a raft voter of
// the metadata log, the image every committed entry builds, and — while
// this node leads the quorum — the active controller.
type Server struct {
	cfg  Config
	log  *slog.Logger
	node *quorum.Node

	state atomic.Pointer[State]

	// mu guards rejected: indexes of entries whose batch was skipped at
	// apply, for the proposer to learn its decision did not take effect.
	mu       sync.Mutex
	rejected map[uint64]bool

	reqc       chan *request
	activeDone chan struct{} // closed when the controller loop exits

	tcp *quorum.TCPTransport
	ln  net.Listener
	mux *muxListener
	ks  *kafkaServer

	cancel              context.CancelFunc
	wg                  sync.WaitGroup
	startOnce, stopOnce sync.Once
	started             atomic.Bool
}

// New recovers the metadata log under cfg.Dir (replaying its newest
// snapshot into the image; the entries after it replay once Start runs)
// and returns a server ready to Start.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: cfg.Logger.With("node", cfg.NodeID), rejected: map[uint64]bool{},
		reqc: make(chan *request), activeDone: make(chan struct{})}
	s.state.Store(newState(metadata.Image{}, 0, nil))
	peers := make([]quorum.Peer, 0, len(cfg.Voters))
	for _, v := range cfg.Voters {
		peers = append(peers, quorum.Peer{ID: uint64(v.ID), Addr: v.Addr})
	}
	var tr quorum.Transport
	if cfg.Network != nil {
		tr = cfg.Network.Transport(uint64(cfg.NodeID))
	} else {
		s.tcp = quorum.NewTCPTransport(quorum.TCPConfig{NodeID: uint64(cfg.NodeID), Peers: peers,
			Dial: raftDialer(cfg.Dial), Logger: s.log})
		tr = s.tcp
	}
	node, err := quorum.New(quorum.Config{
		NodeID: uint64(cfg.NodeID), Peers: peers, Dir: cfg.Dir, FS: cfg.FS, Transport: tr,
		Tick: cfg.Tick, ElectionTicks: cfg.ElectionTicks, HeartbeatTicks: cfg.HeartbeatTicks,
		SnapshotEvery: cfg.SnapshotEvery, SnapshotCatchUpEntries: max(cfg.SnapshotEvery/10, 1),
		Apply: s.apply, Snapshot: s.snapshot, Restore: s.restore,
		Logger: cfg.Logger, Now: cfg.Now,
	})
	if err != nil {
		if s.tcp != nil {
			_ = s.tcp.Close()
		}
		return nil, err
	}
	s.node = node
	return s, nil
}

// Start opens the controller listener (unless Config.Network is set) and
// starts the raft node and the controller loop. They run until Stop or
// until ctx is done.
func (s *Server) Start(ctx context.Context) error {
	var err error
	s.startOnce.Do(func() {
		if s.cfg.Network == nil {
			var ln net.Listener
			ln, err = s.cfg.Listen("tcp", s.voterAddr(s.cfg.NodeID))
			if err != nil {
				err = fmt.Errorf("metaserver: listen: %w", err)
				return
			}
			s.ln = ln
		}
		ctx, s.cancel = context.WithCancel(ctx)
		s.started.Store(true)
		s.node.Start(ctx)
		if s.cfg.Network != nil {
			s.cfg.Network.Attach(uint64(s.cfg.NodeID), s.node.Step)
		} else {
			s.mux = newMuxListener(s.ln)
			s.tcp.Serve(s.mux.raft, s.node.Step)
			s.ks = newKafkaServer(s)
			s.wg.Go(func() { s.mux.run() })
			s.wg.Go(func() { s.ks.serve(ctx, s.mux.kafka) })
		}
		s.wg.Go(func() { s.runActive(ctx) })
	})
	return err
}

// Addr is the controller listener's address (nil before Start or with an
// in-memory network).
func (s *Server) Addr() net.Addr {
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Stop stops the controller loop, the listener and the raft node, and
// waits for every goroutine. It returns the raft node's failure, if any.
func (s *Server) Stop() error {
	var err error
	s.stopOnce.Do(func() {
		if s.cancel != nil {
			s.cancel()
		}
		if s.cfg.Network != nil {
			s.cfg.Network.Detach(uint64(s.cfg.NodeID))
		}
		if s.ks != nil {
			s.ks.close()
		}
		if s.mux != nil {
			s.mux.close()
		}
		if s.tcp != nil {
			_ = s.tcp.Close()
		}
		err = s.node.Stop()
		s.wg.Wait()
		if errors.Is(err, context.Canceled) {
			err = nil
		}
	})
	return err
}

// Done is closed when the raft node has stopped (Stop, ctx, or a storage
// failure: see Err).
func (s *Server) Done() <-chan struct{} { return s.node.Done() }

// Err is why the raft node stopped, nil while it runs or after a clean stop.
func (s *Server) Err() error { return s.node.Err() }

// State is the newest committed metadata state this node has applied.
func (s *Server) State() *State { return s.state.Load() }

// WaitFor waits until a state satisfying pred is applied here and returns
// it.
func (s *Server) WaitFor(ctx context.Context, pred func(*State) bool) (*State, error) {
	for {
		st := s.State()
		if pred(st) {
			return st, nil
		}
		select {
		case <-st.Changed():
		case <-ctx.Done():
			return st, ctx.Err()
		}
	}
}

// Leader is the raft leader (the active controller) this node knows of,
// -1 if none.
func (s *Server) Leader() int32 {
	id, _ := s.node.Leader()
	if id == 0 {
		return -1
	}
	return int32(id)
}

// QuorumStatus is the raft node's status.
func (s *Server) QuorumStatus() quorum.Status { return s.node.Status() }

// NodeID is this node's id.
func (s *Server) NodeID() int32 { return s.cfg.NodeID }

func (s *Server) voterAddr(id int32) string {
	for _, v := range s.cfg.Voters {
		if v.ID == id {
			return v.Addr
		}
	}
	return ""
}

func (s *Server) publish(st *State) {
	old := s.state.Swap(st)
	close(old.changed)
}

// apply runs on the raft node goroutine for every committed entry.
func (s *Server) apply(index uint64, data []byte) {
	st, ok, err := applyEntry(s.State(), index, data)
	if !ok {
		s.log.Warn("metadata batch skipped", "offset", index, "err", err)
		s.mu.Lock()
		if len(s.rejected) > 1024 {
			// Only the active controller asks, right after its own
			// proposal; marks nobody asked about are not worth keeping.
			clear(s.rejected)
		}
		s.rejected[index] = true
		s.mu.Unlock()
	}
	s.publish(st)
}

func (s *Server) snapshot() ([]byte, error) { return encodeSnapshot(s.State()) }

func (s *Server) restore(index uint64, data []byte) error {
	st, err := decodeSnapshot(data)
	if err != nil {
		return err
	}
	s.log.Info("metadata snapshot restored", "offset", st.Offset, "raft_index", index)
	s.publish(st)
	return nil
}

// wasRejected reports (and forgets) whether the entry at index was skipped,
// forgetting older marks too: only the single proposer asks, in order.
func (s *Server) wasRejected(index uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.rejected[index]
	for i := range s.rejected {
		if i <= index {
			delete(s.rejected, i)
		}
	}
	return r
}
