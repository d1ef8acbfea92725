package metaserver

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/highwater-io/highwater/broker/internal/controller"
	"github.com/highwater-io/highwater/broker/internal/metadata"
)

// The Kafka APIs the controller listener serves, with their versions. One
// table feeds dispatch, ApiVersions and the Client's version choice.
var kafkaAPIs = []struct {
	key      kmsg.Key
	min, max int16
}{
	{kmsg.ApiVersions, 0, 3},
	{kmsg.AlterPartition, 0, 3},
	{kmsg.BrokerRegistration, 0, 4},
	{kmsg.BrokerHeartbeat, 0, 2},
	{kmsg.AllocateProducerIDs, 0, 0},
	// Forwarded topic admin (admin.go).
	{kmsg.CreateTopics, 5, 7},
	{kmsg.DeleteTopics, 6, 6},
	{kmsg.CreatePartitions, 0, 3},
	{kmsg.IncrementalAlterConfigs, 0, 1},
	{kmsg.ElectLeaders, 1, 2},
}

func apiRange(key int16) (lo, hi int16, ok bool) {
	for _, a := range kafkaAPIs {
		if int16(a.key) == key {
			return a.min, a.max, true
		}
	}
	return 0, 0, false
}

// maxFrameBytes bounds an inbound request on the controller listener.
const maxFrameBytes = 16 << 20

// kafkaServer serves the inter-node controller APIs on the Kafka
// protocol. It owns one goroutine per connection; requests on a
// connection are answered in order.
type kafkaServer struct {
	s     *Server
	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
	ln    net.Listener
}

func newKafkaServer(s *Server) *kafkaServer {
	return &kafkaServer{s: s, conns: map[net.Conn]struct{}{}}
}

func (k *kafkaServer) serve(ctx context.Context, ln net.Listener) {
	k.mu.Lock()
	k.ln = ln
	k.mu.Unlock()
	defer k.wg.Wait()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		k.mu.Lock()
		if k.conns == nil {
			k.mu.Unlock()
			_ = c.Close()
			return
		}
		k.conns[c] = struct{}{}
		k.mu.Unlock()
		k.wg.Go(func() {
			k.serveConn(ctx, c)
			k.mu.Lock()
			delete(k.conns, c)
			k.mu.Unlock()
			_ = c.Close()
		})
	}
}

func (k *kafkaServer) close() {
	k.mu.Lock()
	defer k.mu.Unlock()
	for c := range k.conns {
		_ = c.Close()
	}
	k.conns = nil
	if k.ln != nil {
		_ = k.ln.Close()
	}
}

func (k *kafkaServer) serveConn(ctx context.Context, c net.Conn) {
	r := bufio.NewReader(c)
	var hdr [4]byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return
		}
		size := int32(binary.BigEndian.Uint32(hdr[:]))
		if size < 8 || size > maxFrameBytes {
			return
		}
		frame := make([]byte, size)
		if _, err := io.ReadFull(r, frame); err != nil {
			return
		}
		out, err := k.handleFrame(ctx, frame)
		if err != nil {
			k.s.log.Debug("controller connection closed", "remote", c.RemoteAddr().String(), "err", err)
			return
		}
		if _, err := c.Write(out); err != nil {
			return
		}
	}
}

// handleFrame answers one request frame; an error closes the connection
// (unknown key or version, undecodable body), as Kafka does.
func (k *kafkaServer) handleFrame(ctx context.Context, frame []byte) ([]byte, error) {
	rd := kbin.Reader{Src: frame}
	key, version, correlationID := rd.Int16(), rd.Int16(), rd.Int32()
	rd.NullableString() // client id
	if !rd.Ok() {
		return nil, errors.New("truncated request header")
	}
	lo, hi, ok := apiRange(key)
	if !ok || version < lo || version > hi {
		return nil, fmt.Errorf("unsupported API key %d version %d", key, version)
	}
	req := kmsg.RequestForKey(key)
	req.SetVersion(version)
	if req.IsFlexible() {
		for n := rd.Uvarint(); n > 0 && rd.Ok(); n-- {
			rd.Uvarint()
			rd.Span(int(rd.Uvarint()))
		}
		if !rd.Ok() {
			return nil, errors.New("truncated request header tags")
		}
	}
	if err := req.ReadFrom(rd.Src); err != nil {
		return nil, fmt.Errorf("decoding %s v%d: %w", kmsg.NameForKey(key), version, err)
	}
	rctx, cancel := context.WithTimeout(ctx, k.s.cfg.ProposeTimeout)
	defer cancel()
	resp := k.dispatch(rctx, req)
	resp.SetVersion(version)
	out := make([]byte, 4, 256)
	out = binary.BigEndian.AppendUint32(out, uint32(correlationID))
	if resp.IsFlexible() && key != int16(kmsg.ApiVersions) {
		out = append(out, 0)
	}
	out = resp.AppendTo(out)
	binary.BigEndian.PutUint32(out, uint32(len(out)-4))
	return out, nil
}

func (k *kafkaServer) dispatch(ctx context.Context, req kmsg.Request) kmsg.Response {
	if resp, ok := k.dispatchAdmin(ctx, req); ok {
		return resp
	}
	switch r := req.(type) {
	case *kmsg.ApiVersionsRequest:
		resp := kmsg.NewPtrApiVersionsResponse()
		for _, a := range kafkaAPIs {
			resp.ApiKeys = append(resp.ApiKeys, kmsg.ApiVersionsResponseApiKey{ApiKey: int16(a.key), MinVersion: a.min, MaxVersion: a.max})
		}
		return resp
	case *kmsg.BrokerRegistrationRequest:
		return k.brokerRegistration(ctx, r)
	case *kmsg.BrokerHeartbeatRequest:
		return k.brokerHeartbeat(ctx, r)
	case *kmsg.AlterPartitionRequest:
		return k.alterPartition(ctx, r)
	case *kmsg.AllocateProducerIDsRequest:
		resp := kmsg.NewPtrAllocateProducerIDsResponse()
		blk, err := k.s.AllocateProducerIDs(ctx, r.BrokerID, r.BrokerEpoch)
		resp.ErrorCode, resp.ProducerIDStart, resp.ProducerIDLen = errorCode(err), blk.First, int32(blk.Size)
		return resp
	}
	return req.ResponseKind() // unreachable: apiRange admits only the cases above
}

// errorCode maps a Go API error to a wire code: NOT_CONTROLLER when this
// node does not lead (or is stopping), REQUEST_TIMED_OUT for an unknown
// outcome (retriable), the controller's codes otherwise.
func errorCode(err error) int16 {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, ErrNotController), errors.Is(err, ErrStopped):
		return kerr.NotController.Code
	case errors.Is(err, ErrOutcomeUnknown), errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return kerr.RequestTimedOut.Code
	}
	return controller.Code(err)
}

var securityProtocols = map[int16]string{0: "PLAINTEXT", 1: "SSL", 2: "SASL_PLAINTEXT", 3: "SASL_SSL"}

func securityProtocolCode(name string) int16 {
	for c, n := range securityProtocols {
		if n == name {
			return c
		}
	}
	return 0
}

func (k *kafkaServer) brokerRegistration(ctx context.Context, r *kmsg.BrokerRegistrationRequest) kmsg.Response {
	resp := kmsg.NewPtrBrokerRegistrationResponse()
	reg := controller.Registration{BrokerID: r.BrokerID, IncarnationID: metadata.UUID(r.IncarnationID),
		PreviousBrokerEpoch: controller.NoPreviousBrokerEpoch}
	if r.Version >= 3 {
		reg.PreviousBrokerEpoch = r.PreviousBrokerEpoch // KIP-966: -1 after an unclean shutdown
	}
	if r.Rack != nil {
		reg.Rack = *r.Rack
	}
	for _, l := range r.Listeners {
		reg.Endpoints = append(reg.Endpoints, metadata.Endpoint{Name: l.Name, Host: l.Host, Port: int32(l.Port),
			SecurityProtocol: securityProtocols[l.SecurityProtocol]})
	}
	epoch, err := k.s.RegisterBroker(ctx, reg)
	resp.ErrorCode, resp.BrokerEpoch = errorCode(err), epoch
	if err != nil {
		resp.BrokerEpoch = -1
	}
	return resp
}

func (k *kafkaServer) brokerHeartbeat(ctx context.Context, r *kmsg.BrokerHeartbeatRequest) kmsg.Response {
	resp := kmsg.NewPtrBrokerHeartbeatResponse()
	rep, err := k.s.BrokerHeartbeat(ctx, Heartbeat{BrokerID: r.BrokerID, BrokerEpoch: r.BrokerEpoch,
		MetadataOffset: r.CurrentMetadataOffset, WantFence: r.WantFence, WantShutDown: r.WantShutdown})
	resp.ErrorCode = errorCode(err)
	if err != nil {
		resp.IsFenced = true
		return resp
	}
	resp.IsCaughtUp, resp.IsFenced, resp.ShouldShutdown = rep.IsCaughtUp, rep.IsFenced, rep.ShouldShutDown
	return resp
}

// alterPartition serves AlterPartition: topics by name before v2, by id
// from v2; v3's per-member broker epochs (KIP-903) go to the controller,
// which refuses a member whose registered epoch differs (-1: unchecked).
func (k *kafkaServer) alterPartition(ctx context.Context, r *kmsg.AlterPartitionRequest) kmsg.Response {
	resp := kmsg.NewPtrAlterPartitionResponse()
	img := k.s.State().Image
	var items []controller.AlterPartitionItem
	type slot struct{ ti, pi int }
	var slots []slot
	for ti, t := range r.Topics {
		rt := kmsg.AlterPartitionResponseTopic{Topic: t.Topic, TopidID: t.TopicID}
		id := metadata.UUID(t.TopicID)
		if r.Version < 2 {
			if tp, ok := img.TopicByName(t.Topic); ok {
				id = tp.ID
			}
		}
		for pi, p := range t.Partitions {
			rt.Partitions = append(rt.Partitions, kmsg.AlterPartitionResponseTopicPartition{Partition: p.Partition})
			isr := p.NewISR
			var epochs map[int32]int64
			if r.Version >= 3 {
				isr, epochs = nil, map[int32]int64{}
				for _, m := range p.NewEpochISR {
					isr = append(isr, m.BrokerID)
					epochs[m.BrokerID] = m.BrokerEpoch
				}
			}
			items = append(items, controller.AlterPartitionItem{TopicID: id, PartitionID: p.Partition,
				LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch, ISR: isr, ISREpochs: epochs})
			slots = append(slots, slot{ti, pi})
		}
		resp.Topics = append(resp.Topics, rt)
	}
	results, err := k.s.AlterPartition(ctx, r.BrokerID, r.BrokerEpoch, items)
	if err != nil {
		resp.ErrorCode = errorCode(err)
		return resp
	}
	for i, res := range results {
		sl := slots[i]
		rp := &resp.Topics[sl.ti].Partitions[sl.pi]
		rp.ErrorCode = controller.Code(res.Err)
		if r.Version < 2 && errors.Is(res.Err, controller.ErrUnknownTopicID) {
			rp.ErrorCode = kerr.UnknownTopicOrPartition.Code
		}
		if res.Err == nil {
			rp.LeaderID, rp.LeaderEpoch, rp.PartitionEpoch, rp.ISR = res.Leader, res.LeaderEpoch, res.PartitionEpoch, res.ISR
		}
	}
	return resp
}
