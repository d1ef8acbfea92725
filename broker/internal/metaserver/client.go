package metaserver

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/highwater-io/highwater/broker/internal/controller"
	"github.com/highwater-io/highwater/broker/internal/metadata"
)

// ControllerAPI is what a broker needs from the active controller; the
// wire Client implements it, and so does a Server in-process (which
// answers only while it leads).
type ControllerAPI interface {
	RegisterBroker(ctx context.Context, reg controller.Registration) (int64, error)
	BrokerHeartbeat(ctx context.Context, hb Heartbeat) (HeartbeatReply, error)
	AlterPartition(ctx context.Context, brokerID int32, brokerEpoch int64, items []controller.AlterPartitionItem) ([]controller.AlterPartitionResult, error)
}

// ClientConfig configures a Client.
type ClientConfig struct {
	// Voters are the controller listeners to try.
	Voters []Voter
	// Dial defaults to net.Dialer.DialContext.
	Dial     func(ctx context.Context, network, addr string) (net.Conn, error)
	ClientID string
	// LeaderHint, when set, names the node believed to be the active
	// controller (a combined-mode broker asks its own raft node); -1 or an
	// unknown id falls back to trying the voters in turn.
	LeaderHint func() int32
	// RetryBackoff is the pause after NOT_CONTROLLER or a failed
	// connection before the next voter is tried.
	RetryBackoff time.Duration
	Logger       *slog.Logger
}

// Client reaches the active controller over the Kafka protocol: it sends
// to the voter it last found leading (or the hint), and on NOT_CONTROLLER
// or a broken connection moves on to the next voter until the context
// ends. Safe for concurrent use; one request is in flight per connection.
type Client struct {
	cfg ClientConfig
	fmt *kmsg.RequestFormatter

	mu      sync.Mutex
	current int // index into Voters
	conns   map[int32]*clientConn
	corr    int32
	closed  bool
}

type clientConn struct {
	mu   sync.Mutex
	conn net.Conn
	r    *bufio.Reader
}

// NewClient returns a client; it dials lazily.
func NewClient(cfg ClientConfig) *Client {
	if cfg.Dial == nil {
		var d net.Dialer
		cfg.Dial = d.DialContext
	}
	if cfg.RetryBackoff <= 0 {
		cfg.RetryBackoff = 50 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.ClientID == "" {
		cfg.ClientID = "highwater-metaserver-client"
	}
	return &Client{cfg: cfg, fmt: kmsg.NewRequestFormatter(kmsg.FormatterClientID(cfg.ClientID)), conns: map[int32]*clientConn{}}
}

// Close closes every connection; later requests fail.
func (c *Client) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	for _, cc := range c.conns {
		cc.mu.Lock()
		if cc.conn != nil {
			_ = cc.conn.Close()
		}
		cc.mu.Unlock()
	}
}

// RegisterBroker sends BrokerRegistration.
func (c *Client) RegisterBroker(ctx context.Context, reg controller.Registration) (int64, error) {
	req := kmsg.NewPtrBrokerRegistrationRequest()
	req.BrokerID, req.IncarnationID, req.PreviousBrokerEpoch = reg.BrokerID, reg.IncarnationID, reg.PreviousBrokerEpoch
	if reg.Rack != "" {
		req.Rack = kmsg.StringPtr(reg.Rack)
	}
	for _, e := range reg.Endpoints {
		req.Listeners = append(req.Listeners, kmsg.BrokerRegistrationRequestListener{Name: e.Name, Host: e.Host,
			Port: uint16(e.Port), SecurityProtocol: securityProtocolCode(e.SecurityProtocol)})
	}
	resp, err := c.do(ctx, req, func(r kmsg.Response) int16 { return r.(*kmsg.BrokerRegistrationResponse).ErrorCode })
	if err != nil {
		return 0, err
	}
	return resp.(*kmsg.BrokerRegistrationResponse).BrokerEpoch, nil
}

// BrokerHeartbeat sends BrokerHeartbeat.
func (c *Client) BrokerHeartbeat(ctx context.Context, hb Heartbeat) (HeartbeatReply, error) {
	req := kmsg.NewPtrBrokerHeartbeatRequest()
	req.BrokerID, req.BrokerEpoch, req.CurrentMetadataOffset = hb.BrokerID, hb.BrokerEpoch, hb.MetadataOffset
	req.WantFence, req.WantShutdown = hb.WantFence, hb.WantShutDown
	resp, err := c.do(ctx, req, func(r kmsg.Response) int16 { return r.(*kmsg.BrokerHeartbeatResponse).ErrorCode })
	if err != nil {
		return HeartbeatReply{}, err
	}
	r := resp.(*kmsg.BrokerHeartbeatResponse)
	return HeartbeatReply{IsCaughtUp: r.IsCaughtUp, IsFenced: r.IsFenced, ShouldShutDown: r.ShouldShutdown}, nil
}

// AlterPartition sends AlterPartition (v3: topic ids, ISR members with the
// broker epochs of item.ISREpochs, -1 where unknown; KIP-903).
func (c *Client) AlterPartition(ctx context.Context, brokerID int32, brokerEpoch int64, items []controller.AlterPartitionItem) ([]controller.AlterPartitionResult, error) {
	req := kmsg.NewPtrAlterPartitionRequest()
	req.BrokerID, req.BrokerEpoch = brokerID, brokerEpoch
	for _, it := range items {
		p := kmsg.AlterPartitionRequestTopicPartition{Partition: it.PartitionID, LeaderEpoch: it.LeaderEpoch,
			PartitionEpoch: it.PartitionEpoch, NewISR: it.ISR}
		for _, id := range it.ISR {
			e, ok := it.ISREpochs[id]
			if !ok {
				e = -1
			}
			p.NewEpochISR = append(p.NewEpochISR, kmsg.AlterPartitionRequestTopicPartitionNewEpochISR{BrokerID: id, BrokerEpoch: e})
		}
		req.Topics = append(req.Topics, kmsg.AlterPartitionRequestTopic{TopicID: it.TopicID, Partitions: []kmsg.AlterPartitionRequestTopicPartition{p}})
	}
	resp, err := c.do(ctx, req, func(r kmsg.Response) int16 { return r.(*kmsg.AlterPartitionResponse).ErrorCode })
	if err != nil {
		return nil, err
	}
	var out []controller.AlterPartitionResult
	for _, t := range resp.(*kmsg.AlterPartitionResponse).Topics {
		for _, p := range t.Partitions {
			res := controller.AlterPartitionResult{TopicID: metadata.UUID(t.TopidID), PartitionID: p.Partition, Err: codeError(p.ErrorCode)}
			if res.Err == nil {
				res.Leader, res.LeaderEpoch, res.PartitionEpoch, res.ISR = p.LeaderID, p.LeaderEpoch, p.PartitionEpoch, p.ISR
			}
			out = append(out, res)
		}
	}
	return out, nil
}

// AllocateProducerIDs sends AllocateProducerIds.
func (c *Client) AllocateProducerIDs(ctx context.Context, brokerID int32, brokerEpoch int64) (ProducerIDBlock, error) {
	req := kmsg.NewPtrAllocateProducerIDsRequest()
	req.BrokerID, req.BrokerEpoch = brokerID, brokerEpoch
	resp, err := c.do(ctx, req, func(r kmsg.Response) int16 { return r.(*kmsg.AllocateProducerIDsResponse).ErrorCode })
	if err != nil {
		return ProducerIDBlock{}, err
	}
	r := resp.(*kmsg.AllocateProducerIDsResponse)
	return ProducerIDBlock{First: r.ProducerIDStart, Size: int64(r.ProducerIDLen)}, nil
}

// controllerErrors are the sentinels whose wire codes a response may carry;
// codeError maps a code back to one, so callers test errors the same way
// in-process and over the wire.
var controllerErrors = []error{
	controller.ErrTopicAlreadyExists, controller.ErrInvalidTopic, controller.ErrInvalidPartitions,
	controller.ErrInvalidReplicationFactor, controller.ErrInvalidReplicaAssignment, controller.ErrInvalidConfig,
	controller.ErrInvalidRequest, controller.ErrUnknownTopicOrPartition, controller.ErrUnknownTopicID,
	controller.ErrStaleBrokerEpoch, controller.ErrBrokerIDNotRegistered, controller.ErrDuplicateBrokerRegistration,
	controller.ErrFencedLeaderEpoch, controller.ErrInvalidUpdateVersion, controller.ErrIneligibleReplica,
	controller.ErrElectionNotNeeded, controller.ErrPreferredLeaderNotAvailable, controller.ErrEligibleLeadersNotAvailable,
	controller.ErrPolicyViolation,
}

func codeError(code int16) error {
	switch {
	case code == 0:
		return nil
	case code == kerr.NotController.Code:
		return &NotControllerError{Leader: -1}
	case code == kerr.RequestTimedOut.Code:
		return fmt.Errorf("%w: %w", ErrOutcomeUnknown, kerr.RequestTimedOut)
	}
	for _, e := range controllerErrors {
		if controller.Code(e) == code {
			return e
		}
	}
	return kerr.ErrorForCode(code)
}

// do sends req to the active controller, retrying elsewhere on
// NOT_CONTROLLER or connection failure until ctx ends. A non-zero
// top-level code other than NOT_CONTROLLER is returned as an error.
func (c *Client) do(ctx context.Context, req kmsg.Request, code func(kmsg.Response) int16) (kmsg.Response, error) {
	if _, hi, ok := apiRange(req.Key()); ok {
		req.SetVersion(min(hi, req.MaxVersion()))
	}
	var last error
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			t := time.NewTimer(c.cfg.RetryBackoff)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, fmt.Errorf("metaserver client: %w (last: %w)", ctx.Err(), last)
			case <-t.C:
			}
		}
		id, idx := c.target(attempt%2 == 0)
		resp, err := c.roundTrip(ctx, id, req)
		if err == nil {
			if cd := code(resp); cd != kerr.NotController.Code {
				return resp, codeError(cd)
			}
			err = &NotControllerError{Leader: -1}
		}
		last = err
		if c.isClosed() {
			return nil, fmt.Errorf("%w: client closed", ErrStopped)
		}
		c.moveOn(idx)
	}
}

// target picks the voter to send to: the hint when it names a voter (on
// every other attempt, so a stale hint cannot hold the client), else the
// one that answered last.
func (c *Client) target(useHint bool) (int32, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if useHint && c.cfg.LeaderHint != nil {
		if h := c.cfg.LeaderHint(); h >= 0 {
			for _, v := range c.cfg.Voters {
				if v.ID == h {
					return v.ID, -1
				}
			}
		}
	}
	if len(c.cfg.Voters) == 0 {
		return -1, 0
	}
	return c.cfg.Voters[c.current%len(c.cfg.Voters)].ID, c.current
}

func (c *Client) moveOn(idx int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if idx >= 0 && idx == c.current {
		c.current++
	}
}

func (c *Client) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

func (c *Client) connFor(id int32) (*clientConn, string, int32, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, "", 0, fmt.Errorf("%w: client closed", ErrStopped)
	}
	addr := ""
	for _, v := range c.cfg.Voters {
		if v.ID == id {
			addr = v.Addr
		}
	}
	if addr == "" {
		return nil, "", 0, fmt.Errorf("metaserver client: no voter %d", id)
	}
	cc := c.conns[id]
	if cc == nil {
		cc = &clientConn{}
		c.conns[id] = cc
	}
	c.corr++
	return cc, addr, c.corr, nil
}

// roundTrip sends one request to voter id and reads its response; any
// failure closes the connection (the next attempt redials).
func (c *Client) roundTrip(ctx context.Context, id int32, req kmsg.Request) (kmsg.Response, error) {
	cc, addr, corr, err := c.connFor(id)
	if err != nil {
		return nil, err
	}
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.conn == nil {
		conn, err := c.cfg.Dial(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		cc.conn, cc.r = conn, bufio.NewReader(conn)
	}
	resp, err := exchange(ctx, cc, c.fmt, req, corr)
	if err != nil {
		_ = cc.conn.Close()
		cc.conn, cc.r = nil, nil
	}
	return resp, err
}

func exchange(ctx context.Context, cc *clientConn, f *kmsg.RequestFormatter, req kmsg.Request, corr int32) (kmsg.Response, error) {
	if dl, ok := ctx.Deadline(); ok {
		_ = cc.conn.SetDeadline(dl)
	} else {
		_ = cc.conn.SetDeadline(time.Time{})
	}
	// The callback may still run after stop (it races with the return), when
	// the caller has already dropped cc.conn: it holds its own reference.
	conn := cc.conn
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if _, err := cc.conn.Write(f.AppendRequest(nil, req, corr)); err != nil {
		return nil, err
	}
	var hdr [8]byte
	if _, err := io.ReadFull(cc.r, hdr[:]); err != nil {
		return nil, err
	}
	size := int32(binary.BigEndian.Uint32(hdr[:4]))
	if size < 4 || size > maxFrameBytes {
		return nil, fmt.Errorf("metaserver client: response of %d bytes", size)
	}
	if got := int32(binary.BigEndian.Uint32(hdr[4:])); got != corr {
		return nil, fmt.Errorf("metaserver client: correlation id %d, want %d", got, corr)
	}
	body := make([]byte, size-4)
	if _, err := io.ReadFull(cc.r, body); err != nil {
		return nil, err
	}
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	if resp.IsFlexible() && req.Key() != int16(kmsg.ApiVersions) {
		if len(body) == 0 || body[0] != 0 {
			return nil, errors.New("metaserver client: response header tags not supported")
		}
		body = body[1:]
	}
	if err := resp.ReadFrom(body); err != nil {
		return nil, fmt.Errorf("metaserver client: decoding %s: %w", kmsg.NameForKey(req.Key()), err)
	}
	return resp, nil
}
