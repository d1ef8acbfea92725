package metaserver

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/highwater-io/highwater/broker/internal/controller"
)

// LifecycleConfig configures a BrokerLifecycle.
type LifecycleConfig struct {
	Registration controller.Registration
	Controller   ControllerAPI
	// MetadataOffset is the offset of the metadata image the broker has
	// applied (Server.State().Offset in combined mode).
	MetadataOffset func() int64
	// HeartbeatInterval is broker.heartbeat.interval.ms.
	HeartbeatInterval time.Duration
	// RequestTimeout bounds one registration or heartbeat.
	RequestTimeout time.Duration
	Logger         *slog.Logger
}

// LifecycleStatus is the broker's registration as the controller last
// answered it.
type LifecycleStatus struct {
	Epoch                int64 // 0 until registered
	Fenced               bool
	CaughtUp             bool
	InControlledShutdown bool
}

// BrokerLifecycle is the broker side of registration and heartbeats
// (Kafka's BrokerLifecycleManager): it registers, heartbeats every
// interval with the metadata offset it has applied, re-registers when the
// controller no longer knows its epoch, and runs controlled shutdown. It
// owns one goroutine between Start and Stop.
type BrokerLifecycle struct {
	cfg LifecycleConfig

	mu     sync.Mutex
	status LifecycleStatus

	shutdownc chan chan error
	cancel    context.CancelFunc
	done      chan struct{}
	once      sync.Once
}

// NewBrokerLifecycle returns a lifecycle ready to Start.
func NewBrokerLifecycle(cfg LifecycleConfig) *BrokerLifecycle {
	if cfg.HeartbeatInterval <= 0 {
		cfg.HeartbeatInterval = 2 * time.Second
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &BrokerLifecycle{cfg: cfg, shutdownc: make(chan chan error), done: make(chan struct{})}
}

// Start launches the heartbeat goroutine.
func (l *BrokerLifecycle) Start(ctx context.Context) {
	ctx, l.cancel = context.WithCancel(ctx)
	go l.run(ctx)
}

// Stop ends the goroutine without telling the controller (the session
// then times out, as after a crash).
func (l *BrokerLifecycle) Stop() {
	l.once.Do(func() {
		if l.cancel != nil {
			l.cancel()
			<-l.done
		}
	})
}

// Status is the last answer of the controller.
func (l *BrokerLifecycle) Status() LifecycleStatus {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.status
}

// Shutdown runs controlled shutdown: heartbeats asking to shut down until
// the controller says the broker may (its leaderships moved away), then
// stops. ctx bounds the wait.
func (l *BrokerLifecycle) Shutdown(ctx context.Context) error {
	reply := make(chan error, 1)
	select {
	case l.shutdownc <- reply:
	case <-l.done:
		return ErrStopped
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-reply:
		l.Stop()
		return err
	case <-ctx.Done():
		l.Stop()
		return ctx.Err()
	}
}

func (l *BrokerLifecycle) run(ctx context.Context) {
	defer close(l.done)
	ticker := time.NewTicker(l.cfg.HeartbeatInterval)
	defer ticker.Stop()
	var shutdown chan error
	for {
		l.beat(ctx, shutdown)
		if shutdown != nil && l.shutDownDone() {
			shutdown <- nil
			<-ctx.Done()
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		case shutdown = <-l.shutdownc:
		}
	}
}

func (l *BrokerLifecycle) shutDownDone() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.status.Fenced && l.status.InControlledShutdown
}

// beat registers if needed, then heartbeats once.
func (l *BrokerLifecycle) beat(ctx context.Context, shutdown chan error) {
	rctx, cancel := context.WithTimeout(ctx, l.cfg.RequestTimeout)
	defer cancel()
	st := l.Status()
	if st.Epoch == 0 {
		epoch, err := l.cfg.Controller.RegisterBroker(rctx, l.cfg.Registration)
		if err != nil {
			l.cfg.Logger.Debug("broker registration failed", "err", err)
			return
		}
		l.mu.Lock()
		l.status = LifecycleStatus{Epoch: epoch, Fenced: true}
		l.mu.Unlock()
		st = l.Status()
	}
	rep, err := l.cfg.Controller.BrokerHeartbeat(rctx, Heartbeat{BrokerID: l.cfg.Registration.BrokerID,
		BrokerEpoch: st.Epoch, MetadataOffset: l.cfg.MetadataOffset(), WantShutDown: shutdown != nil})
	if err != nil {
		if errors.Is(err, controller.ErrStaleBrokerEpoch) || errors.Is(err, controller.ErrBrokerIDNotRegistered) {
			l.mu.Lock()
			l.status = LifecycleStatus{}
			l.mu.Unlock()
		}
		l.cfg.Logger.Debug("broker heartbeat failed", "err", err)
		return
	}
	l.mu.Lock()
	l.status.Fenced, l.status.CaughtUp = rep.IsFenced, rep.IsCaughtUp
	l.status.InControlledShutdown = rep.InControlledShutdown || (shutdown != nil && rep.ShouldShutDown)
	if rep.ShouldShutDown {
		l.status.Fenced, l.status.InControlledShutdown = true, true
	}
	l.mu.Unlock()
}
