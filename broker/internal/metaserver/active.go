package metaserver

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/highwater-io/highwater/broker/internal/controller"
	"github.com/highwater-io/highwater/broker/internal/metadata"
	"github.com/highwater-io/highwater/broker/internal/quorum"
)

// request is one controller request on its way to the controller loop.
// decide runs on the loop goroutine against the active controller and
// returns the records it decided (already applied to the controller's
// image); its answer is stored by the closure and read by the caller once
// done delivers the outcome of committing them.
type request struct {
	decide func(c *controller.Controller, st *State, nowMs int64) ([]metadata.Record, error)
	done   chan error // buffered 1
}

// active is the controller loop's state; only runActive's goroutine
// touches it.
type active struct {
	ctl  *controller.Controller
	term uint64
	// offset is the log offset the controller's image is at: the prev
	// offset of its next batch.
	offset uint64
}

func (s *Server) runActive(ctx context.Context) {
	defer close(s.activeDone)
	ticker := time.NewTicker(s.cfg.ControllerTick)
	defer ticker.Stop()
	var a active
	for {
		select {
		case <-ctx.Done():
			s.drainRequests(ErrStopped)
			return
		case <-ticker.C:
			if !s.ensureController(ctx, &a) {
				continue
			}
			recs, err := a.ctl.Tick(s.nowMs())
			if err != nil {
				s.log.Error("controller tick failed", "err", err)
				a.ctl = nil
				continue
			}
			if len(recs) > 0 {
				if err := s.commit(ctx, &a, recs); err != nil {
					s.log.Info("controller tick not committed", "err", err)
				}
			}
		case r := <-s.reqc:
			batch := []*request{r}
		drain:
			for len(batch) < s.cfg.MaxBatchRequests {
				select {
				case r := <-s.reqc:
					batch = append(batch, r)
				default:
					break drain
				}
			}
			s.decideBatch(ctx, &a, batch)
		}
	}
}

// decideBatch decides queued requests one after the other (each sees the
// effect of the previous) and commits all their records as one raft entry
// (group commit); requests refused outright are answered at once.
func (s *Server) decideBatch(ctx context.Context, a *active, batch []*request) {
	if !s.ensureController(ctx, a) {
		err := s.notController()
		for _, r := range batch {
			r.done <- err
		}
		return
	}
	st, now := s.State(), s.nowMs()
	var recs []metadata.Record
	var pending []*request
	for _, r := range batch {
		rs, err := r.decide(a.ctl, st, now)
		if err != nil {
			r.done <- err
			if errors.Is(err, controller.ErrInternal) {
				s.log.Error("controller decision failed", "err", err)
			}
			continue
		}
		recs = append(recs, rs...)
		pending = append(pending, r)
	}
	var err error
	if len(recs) > 0 {
		err = s.commit(ctx, a, recs)
	}
	for _, r := range pending {
		r.done <- err
	}
}

// commit proposes recs as one entry after the controller's offset and
// waits for it to be applied here. On any failure the controller is
// dropped: its image holds records the log may not.
func (s *Server) commit(ctx context.Context, a *active, recs []metadata.Record) error {
	pctx, cancel := context.WithTimeout(ctx, s.cfg.ProposeTimeout)
	defer cancel()
	index, err := s.node.Propose(pctx, encodeEntry(a.offset, recs))
	if err == nil && s.wasRejected(index) {
		err = fmt.Errorf("%w: batch at %d was decided on a stale image", quorum.ErrDropped, index)
	}
	if err != nil {
		a.ctl = nil
		if errors.Is(err, quorum.ErrNotLeader) || errors.Is(err, quorum.ErrDropped) {
			return s.notController()
		}
		return fmt.Errorf("%w: %w", ErrOutcomeUnknown, err)
	}
	a.offset = index
	return nil
}

// ensureController makes sure the controller matches the raft role: none
// when this node does not lead; when it leads in a new term, a barrier
// entry is committed first (so every entry of earlier terms is applied
// here) and the controller is rebuilt from the committed image, as KRaft's
// new active controller replays the log before it acts.
func (s *Server) ensureController(ctx context.Context, a *active) bool {
	qs := s.node.Status()
	if !qs.IsLeader {
		if a.ctl != nil {
			s.log.Info("no longer the active controller", "term", a.term)
		}
		a.ctl = nil
		return false
	}
	if a.ctl != nil && qs.Term == a.term {
		return true
	}
	a.ctl = nil
	pctx, cancel := context.WithTimeout(ctx, s.cfg.ProposeTimeout)
	defer cancel()
	index, err := s.node.Propose(pctx, encodeEntry(0, nil))
	if err != nil {
		s.log.Info("controller barrier not committed", "term", qs.Term, "err", err)
		return false
	}
	st := s.State()
	cfg := s.cfg.ControllerConfig
	cfg.Seed ^= index * 0x9e3779b97f4a7c15
	ctl, err := controller.New(cfg, st.Image, s.nowMs())
	if err != nil {
		s.log.Error("controller not built", "err", err)
		return false
	}
	a.ctl, a.term, a.offset = ctl, qs.Term, st.Offset
	s.log.Info("active controller", "term", qs.Term, "offset", st.Offset, "barrier", index)
	return true
}

func (s *Server) notController() error { return &NotControllerError{Leader: s.Leader()} }

func (s *Server) nowMs() int64 { return s.cfg.Now().UnixMilli() }

func (s *Server) drainRequests(err error) {
	for {
		select {
		case r := <-s.reqc:
			r.done <- err
		default:
			return
		}
	}
}

// call hands decide to the controller loop and waits for its outcome.
func (s *Server) call(ctx context.Context, decide func(c *controller.Controller, st *State, nowMs int64) ([]metadata.Record, error)) error {
	if !s.started.Load() {
		return ErrStopped
	}
	r := &request{decide: decide, done: make(chan error, 1)}
	select {
	case s.reqc <- r:
	case <-ctx.Done():
		return ctx.Err()
	case <-s.activeDone:
		return ErrStopped
	}
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("%w: %w", ErrOutcomeUnknown, ctx.Err())
	}
}
