package controller

import (
	"fmt"
	"math/rand/v2"

	"github.com/highwater-io/highwater/broker/internal/metadata"
)

// Controller is the active controller's decision state: the image with
// every record it has decided (ahead of what the quorum has committed, as
// KRaft's active controller is) and the brokers' heartbeat sessions, which
// are soft state outside the log.
type Controller struct {
	cfg      Config
	img      metadata.Image
	rnd      *rand.Rand
	sessions map[int32]*session
	// nextRebalanceMs is when Tick next checks leader imbalance.
	nextRebalanceMs int64
	// uncleanIncarnation: the broker's current registration followed an
	// unclean shutdown (soft state, like sessions; a new active
	// controller starts without it).
	uncleanIncarnation map[int32]bool
}

type session struct {
	lastContactMs int64
	// shutdownSeen: a heartbeat already put the broker in controlled
	// shutdown, so a later one may be told to shut down.
	shutdownSeen bool
	// contacted: this controller saw the broker register or heartbeat
	// (not just the grace session New grants on taking over).
	contacted bool
}

// New makes the controller active over img (the committed image when it
// wins the quorum election). Every registered broker gets a full session
// from nowMs, as Kafka gives them after a controller failover.
func New(cfg Config, img metadata.Image, nowMs int64) (*Controller, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := &Controller{cfg: cfg, img: img, rnd: rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
		sessions: map[int32]*session{}, uncleanIncarnation: map[int32]bool{}, nextRebalanceMs: nowMs + cfg.LeaderImbalanceCheckIntervalMs}
	for _, b := range img.Brokers() {
		c.sessions[b.ID] = &session{lastContactMs: nowMs}
	}
	return c, nil
}

// Image is the image with every decision so far applied.
func (c *Controller) Image() metadata.Image { return c.img }

// txn collects the records of one decision, applying each to a working
// image so later choices in the same decision see earlier ones. A record
// Apply refuses is a bug here (ErrInternal) and drops the whole decision.
type txn struct {
	img  metadata.Image
	recs []metadata.Record
	err  error
}

func (c *Controller) begin() *txn { return &txn{img: c.img} }

func (t *txn) add(r metadata.Record) {
	if t.err != nil {
		return
	}
	img, err := metadata.Apply(t.img, r)
	if err != nil {
		t.err = fmt.Errorf("%w: %s: %w", ErrInternal, r, err)
		return
	}
	t.img, t.recs = img, append(t.recs, r)
}

// commit makes the decision the controller's state and returns its records.
func (c *Controller) commit(t *txn) ([]metadata.Record, error) {
	if t.err != nil {
		return nil, t.err
	}
	c.img = t.img
	return t.recs, nil
}

// topicConfig is a topic's effective value of key: the topic's override,
// else the cluster-wide broker config, else def.
func topicConfig(img metadata.Image, topic, key, def string) string {
	if v, ok := img.ConfigValue(metadata.ConfigResource{Type: metadata.ResourceTopic, Name: topic}, key); ok {
		return v
	}
	if v, ok := img.ConfigValue(metadata.ConfigResource{Type: metadata.ResourceBroker, Name: ""}, key); ok {
		return v
	}
	return def
}

func (c *Controller) uncleanEnabled(img metadata.Image, topic string) bool {
	def := "false"
	if c.cfg.UncleanLeaderElectionEnable {
		def = "true"
	}
	return topicConfig(img, topic, "unclean.leader.election.enable", def) == "true"
}

// active reports whether broker id may lead and join ISRs (KIP-841).
func active(img metadata.Image, id int32) bool {
	b, ok := img.Broker(id)
	return ok && b.Active()
}
