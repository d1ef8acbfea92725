package broker

// One coordinator Service per led partition of an internal topic, the way
// Kafka places its group coordinators (__consumer_offsets) and transaction
// coordinators (__transaction_state): the coordinator of key k is the
// current leader of the topic's partition partitionOf(k). internalTopic
// holds what both share: when the metadata driver sees this node become a
// partition's leader it replays the partition's local log into a new
// Service and runs it; when the node stops leading the partition (or the
// leader epoch changes: the log may have been truncated, so the state is
// rebuilt) the Service is stopped and dropped. It also creates the topic on
// the active controller when it is missing, names the coordinator of a key
// (FindCoordinator) and finds the Service loaded here for a key (routing).
// What a Service is and how it is built and loaded stays with its owner
// (internalTopicSpec.open).
//
// Goroutines: apply runs on the driver goroutine; each Service's Run
// goroutine lives until its partition is dropped (dropExcept, stopAll).

import (
	"context"
	"fmt"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/highwater-io/highwater/broker/internal/config"
	"github.com/highwater-io/highwater/broker/internal/controller"
	"github.com/highwater-io/highwater/broker/internal/group"
	"github.com/highwater-io/highwater/broker/internal/metadata"
	"github.com/highwater-io/highwater/broker/internal/topics"
)

// partitionService is what internalTopic needs of a coordinator Service:
// a loop that serves until its context ends.
type partitionService interface {
	Run(ctx context.Context)
}

// internalTopicSpec says which internal topic an internalTopic serves and
// how its Services are made.
type internalTopicSpec[S partitionService] struct {
	name string // the topic
	// partitionOf is the partition coordinating key among partitions.
	partitionOf func(key string, partitions int32) int32
	// Properties giving the topic's partition count and replication
	// factor when this node creates it.
	partitionsKey, replicationKey string
	// configs are the topic configs it is created with, replication
	// factor rf.
	configs func(props *config.Broker, rf int) map[string]string
	// open builds the Service of partition tp from its replayed records,
	// leader epoch epoch; ctx ends when the Service is dropped.
	open func(ctx context.Context, topicID [16]byte, tp *topics.Partition, kvs []group.KV, epoch int32) (S, error)
	// The log messages of a failed load and of a loaded partition.
	loadingMsg, servingMsg string
}

// ledService is a running Service and the leader epoch it was loaded at.
type ledService[S partitionService] struct {
	svc    S
	epoch  int32
	cancel context.CancelFunc
	done   chan struct{} // closed when Run returned
}

// internalTopic runs the Services of the partitions of one internal topic
// this node leads.
type internalTopic[S partitionService] struct {
	c    *clusterNode
	spec internalTopicSpec[S]
	// image is the newest metadata image (c.Image; a seam for the
	// routing tests).
	image func() metadata.Image

	ledMu sync.Mutex
	led   map[int32]*ledService[S] // by partition
}

func newInternalTopic[S partitionService](c *clusterNode, spec internalTopicSpec[S]) *internalTopic[S] {
	return &internalTopic[S]{c: c, spec: spec, image: c.Image, led: map[int32]*ledService[S]{}}
}

// apply loads the partitions this node newly leads (or leads at a new
// epoch) and drops the ones it no longer leads; without the topic, the
// active controller creates it once enough brokers are alive. It runs on
// the driver goroutine after the replication driver applied img.
func (it *internalTopic[S]) apply(ctx context.Context, img metadata.Image) {
	t, ok := img.TopicByName(it.spec.name)
	if !ok {
		it.dropExcept(nil)
		rf := int(it.c.b.s.props.Int64(it.spec.replicationKey))
		if it.c.srv.Leader() == it.c.nodeID && liveBrokers(img) >= rf {
			it.createTopic(ctx, img)
		}
		return
	}
	keep := map[int32]bool{}
	for i, ip := range t.Partitions {
		idx := int32(i)
		if ip.Leader != it.c.nodeID {
			continue
		}
		if _, err := it.c.repl.HighWatermark([16]byte(t.ID), idx); err != nil {
			continue // the replication driver does not lead it (yet)
		}
		keep[idx] = true
		it.ledMu.Lock()
		ls := it.led[idx]
		it.ledMu.Unlock()
		if ls != nil && ls.epoch == ip.LeaderEpoch {
			continue
		}
		if ls != nil {
			it.drop(idx)
		}
		if err := it.load(ctx, [16]byte(t.ID), idx, ip.LeaderEpoch); err != nil {
			it.c.b.log.Error(it.spec.loadingMsg, "partition", idx, "err", err)
			delete(keep, idx)
		}
	}
	it.dropExcept(keep)
}

func liveBrokers(img metadata.Image) int {
	n := 0
	for _, b := range img.Brokers() {
		if b.Active() {
			n++
		}
	}
	return n
}

// createTopic asks the in-process controller (this node must be it) for
// the topic, the replication factor capped at the live brokers.
func (it *internalTopic[S]) createTopic(ctx context.Context, img metadata.Image) {
	props := it.c.b.s.props
	rf := min(int(props.Int64(it.spec.replicationKey)), liveBrokers(img))
	if rf < 1 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, groupCommitTimeout)
	defer cancel()
	res, err := it.c.srv.CreateTopics(ctx, []controller.CreateTopic{{Name: it.spec.name,
		NumPartitions: int32(props.Int64(it.spec.partitionsKey)), ReplicationFactor: int16(rf), Configs: it.spec.configs(props, rf)}})
	if err == nil && len(res) == 1 {
		err = res[0].Err
	}
	if err != nil {
		it.c.b.log.Debug("creating "+it.spec.name, "err", err)
	}
}

// load replays partition idx and starts its Service.
func (it *internalTopic[S]) load(ctx context.Context, topicID [16]byte, idx, epoch int32) error {
	ct, ok := it.c.catalog.Get(it.spec.name)
	if !ok {
		return fmt.Errorf("%s not in the catalogue", it.spec.name)
	}
	tp := ct.Partition(idx)
	if tp == nil {
		return fmt.Errorf("%s-%d not hosted", it.spec.name, idx)
	}
	kvs, err := replayPartition(tp)
	if err != nil {
		return err
	}
	rctx, cancel := context.WithCancel(ctx)
	svc, err := it.spec.open(rctx, topicID, tp, kvs, epoch)
	if err != nil {
		cancel()
		return err
	}
	ls := &ledService[S]{svc: svc, epoch: epoch, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(ls.done)
		svc.Run(rctx)
	}()
	it.ledMu.Lock()
	it.led[idx] = ls
	it.ledMu.Unlock()
	it.c.b.log.Info(it.spec.servingMsg, "partition", idx, "leader_epoch", epoch, "records", len(kvs))
	return nil
}

// drop stops partition idx's Service and waits for its Run to return.
func (it *internalTopic[S]) drop(idx int32) {
	it.ledMu.Lock()
	ls := it.led[idx]
	delete(it.led, idx)
	it.ledMu.Unlock()
	if ls != nil {
		ls.cancel()
		<-ls.done
	}
}

func (it *internalTopic[S]) dropExcept(keep map[int32]bool) {
	it.ledMu.Lock()
	var gone []int32
	for idx := range it.led {
		if !keep[idx] {
			gone = append(gone, idx)
		}
	}
	it.ledMu.Unlock()
	for _, idx := range gone {
		it.drop(idx)
	}
}

// stopAll ends every Service (the driver is ending).
func (it *internalTopic[S]) stopAll() { it.dropExcept(nil) }

// servicePartition is the Service loaded here for partition idx.
func (it *internalTopic[S]) servicePartition(idx int32) (S, bool) {
	it.ledMu.Lock()
	defer it.ledMu.Unlock()
	if ls := it.led[idx]; ls != nil {
		return ls.svc, true
	}
	var none S
	return none, false
}

// serviceFor is the Service coordinating key here, if one is loaded.
func (it *internalTopic[S]) serviceFor(key string) (S, bool) {
	t, ok := it.image().TopicByName(it.spec.name)
	if !ok || len(t.Partitions) == 0 {
		var none S
		return none, false
	}
	return it.servicePartition(it.spec.partitionOf(key, int32(len(t.Partitions))))
}

// services are the Services of every partition led here.
func (it *internalTopic[S]) services() []S {
	it.ledMu.Lock()
	defer it.ledMu.Unlock()
	svcs := make([]S, 0, len(it.led))
	for _, ls := range it.led {
		svcs = append(svcs, ls.svc)
	}
	return svcs
}

// coordinator is the node, host and port of the leader of key's
// partition, creating the topic first if this node is the active
// controller and it does not exist (Kafka does it on the first
// FindCoordinator).
func (it *internalTopic[S]) coordinator(ctx context.Context, key string) (int32, string, int32, error) {
	img := it.image()
	t, ok := img.TopicByName(it.spec.name)
	if !ok {
		if it.c.srv.Leader() == it.c.nodeID {
			it.createTopic(ctx, img)
		}
		return -1, "", -1, kerr.CoordinatorNotAvailable
	}
	if len(t.Partitions) == 0 {
		return -1, "", -1, kerr.CoordinatorNotAvailable
	}
	ip := t.Partitions[it.spec.partitionOf(key, int32(len(t.Partitions)))]
	if ip.Leader < 0 {
		return -1, "", -1, kerr.CoordinatorNotAvailable
	}
	if host, port, ok := plaintextEndpoint(img, ip.Leader); ok {
		return ip.Leader, host, port, nil
	}
	return -1, "", -1, kerr.CoordinatorNotAvailable
}

func plaintextEndpoint(img metadata.Image, node int32) (string, int32, bool) {
	if b, ok := img.Broker(node); ok {
		for _, e := range b.Endpoints {
			if e.Name == "PLAINTEXT" {
				return e.Host, e.Port, true
			}
		}
	}
	return "", 0, false
}
