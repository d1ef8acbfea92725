package wire

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/highwater-io/highwater/broker/internal/config"
	"github.com/highwater-io/highwater/broker/internal/group"
	"github.com/highwater-io/highwater/broker/internal/handler"
	"github.com/highwater-io/highwater/broker/internal/records"
	"github.com/highwater-io/highwater/broker/internal/topics"
	"github.com/highwater-io/highwater/internal/vfs"
)

// testEnv is a wire Server over a real handler.Server, topic catalogue and
// group service, all in memory, so frames can be fed to handleFrame and
// serveConn without sockets. panics counts recovered handler panics (seen
// through the logger): any is a failure, since bad input must never panic.
type testEnv struct {
	srv     *Server
	catalog *topics.Catalog
	panics  atomic.Int64
	lastLog atomic.Pointer[string]
}

// fuzzTopic exists in every testEnv, so seeds can produce to and fetch from it.
const fuzzTopic = "fuzz"

// maxTestRequestBytes keeps frame allocation small in the fuzz targets.
const maxTestRequestBytes = 1 << 20

func newTestEnv(tb testing.TB) *testEnv {
	tb.Helper()
	env := &testEnv{}
	logger := slog.New(&panicCounter{env: env})
	props, _, err := config.NewBroker(map[string]string{
		"offsets.topic.num.partitions":     "1",
		"group.initial.rebalance.delay.ms": "0",
	})
	if err != nil {
		tb.Fatal(err)
	}
	catalog, err := topics.Open(topics.Options{FS: vfs.NewMem(), Dir: "/data", Broker: props, Now: time.Now})
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := catalog.Create(fuzzTopic, 2, nil, false, false); err != nil {
		tb.Fatal(err)
	}
	groups, err := group.NewService(group.Config{Now: time.Now, Logger: logger, TopicExists: catalog.PartitionExists,
		TickInterval:  10 * time.Millisecond,
		TopicNameByID: catalog.TopicName,
		TopicIDByName: catalog.TopicID,
	}, nil)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); groups.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		wg.Wait()
		catalog.Close()
	})
	h := handler.New(handler.Config{
		NodeID: 1, AdvertisedHost: "127.0.0.1", AdvertisedPort: 9092, ClusterID: "fuzz-cluster",
		Broker: props, Topics: catalog, Groups: groups, Now: time.Now, Logger: logger,
	})
	env.srv = New(Config{Handler: h, MaxRequestBytes: maxTestRequestBytes, Logger: logger})
	env.catalog = catalog
	return env
}

// panicCounter is a slog.Handler that drops everything but counts the
// server's "handler panic" records.
type panicCounter struct{ env *testEnv }

func (p *panicCounter) Enabled(context.Context, slog.Level) bool { return true }
func (p *panicCounter) Handle(_ context.Context, r slog.Record) error {
	if r.Message == "handler panic" {
		var b strings.Builder
		r.Attrs(func(a slog.Attr) bool { fmt.Fprintf(&b, "%s=%v\n", a.Key, a.Value); return true })
		s := b.String()
		p.env.lastLog.Store(&s)
		p.env.panics.Add(1)
	}
	return nil
}
func (p *panicCounter) WithAttrs([]slog.Attr) slog.Handler { return p }
func (p *panicCounter) WithGroup(string) slog.Handler      { return p }

func (env *testEnv) checkNoPanic(tb testing.TB) {
	tb.Helper()
	if n := env.panics.Load(); n > 0 {
		tb.Fatalf("a handler panicked (%d so far; bad input must never panic):\n%s", n, *env.lastLog.Load())
	}
}

// reqHeader is a decoded request header.
type reqHeader struct {
	key, version  int16
	correlationID int32
}

func parseHeader(frame []byte) (reqHeader, bool) {
	rd := kbin.Reader{Src: frame}
	h := reqHeader{key: rd.Int16(), version: rd.Int16(), correlationID: rd.Int32()}
	return h, rd.Ok()
}

// checkResponse checks that out is one well-formed response frame to the
// request h: its size prefix matches, its correlation id is the request's,
// and its body decodes as h's response kind and re-encodes to the same bytes.
func checkResponse(h reqHeader, out []byte) error {
	if len(out) < 8 {
		return fmt.Errorf("response frame of %d bytes", len(out))
	}
	if size := int(binary.BigEndian.Uint32(out)); size != len(out)-4 {
		return fmt.Errorf("size prefix %d, frame holds %d bytes", size, len(out)-4)
	}
	if corr := int32(binary.BigEndian.Uint32(out[4:])); corr != h.correlationID {
		return fmt.Errorf("correlation id %d, request had %d", corr, h.correlationID)
	}
	resp := kmsg.ResponseForKey(h.key)
	if resp == nil {
		return fmt.Errorf("response to unknown key %d", h.key)
	}
	version := h.version
	if minV, maxV, _ := handler.Supported(h.key); h.key == int16(kmsg.ApiVersions) && (version > maxV || version < minV) {
		version = 0 // KIP-511: answered at v0
	}
	resp.SetVersion(version)
	body := out[8:]
	if resp.IsFlexible() && h.key != int16(kmsg.ApiVersions) {
		rd := kbin.Reader{Src: body}
		for n := rd.Uvarint(); n > 0 && rd.Ok(); n-- {
			rd.Uvarint()
			rd.Span(int(rd.Uvarint()))
		}
		if !rd.Ok() {
			return errors.New("truncated response header tags")
		}
		body = rd.Src
	}
	if err := resp.ReadFrom(body); err != nil {
		return fmt.Errorf("%s v%d response does not decode: %w", kmsg.NameForKey(h.key), version, err)
	}
	if again := resp.AppendTo(nil); !bytes.Equal(again, body) {
		return fmt.Errorf("%s v%d response does not re-encode to the same bytes (%d vs %d)", kmsg.NameForKey(h.key), version, len(again), len(body))
	}
	return nil
}

// encodeFrame is a request frame without its size prefix: header and body.
func encodeFrame(req kmsg.Request, correlationID int32) []byte {
	f := kmsg.NewRequestFormatter(kmsg.FormatterClientID("highwater-fuzz"))
	return f.AppendRequest(nil, req, correlationID)[4:]
}

// sizePrefixed frames b for the wire.
func sizePrefixed(b []byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(b))), b...)
}

// seedRequests are requests worth starting the fuzzers from: every
// registered API key at its oldest and newest version, with zero-valued
// fields, plus a few carrying real content (a valid batch, a group join).
func seedRequests(tb testing.TB) []kmsg.Request {
	tb.Helper()
	var out []kmsg.Request
	for _, a := range handler.APIVersions() {
		for _, v := range []int16{a.MinVersion, a.MaxVersion} {
			req := kmsg.RequestForKey(a.Key)
			req.SetVersion(v)
			if p, ok := req.(*kmsg.ProduceRequest); ok {
				p.Acks = -1 // acks=0 is answered with nothing
			}
			out = append(out, req)
		}
	}
	batch, err := records.Build(records.BuildOptions{FirstTimestamp: 1, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1},
		records.CodecNone, []records.Record{{Key: []byte("k"), Value: []byte("v")}, {OffsetDelta: 1, Value: []byte("w")}})
	if err != nil {
		tb.Fatal(err)
	}
	for _, v := range []int16{0, 3, 9, 12} {
		p := kmsg.NewPtrProduceRequest()
		p.SetVersion(v)
		p.Acks = -1
		p.TimeoutMillis = 1000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = fuzzTopic
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Records = batch
		rt.Partitions = append(rt.Partitions, rp)
		p.Topics = append(p.Topics, rt)
		out = append(out, p)
	}
	for _, v := range []int16{4, 12} {
		f := kmsg.NewPtrFetchRequest()
		f.SetVersion(v)
		f.MaxWaitMillis = 5
		f.MaxBytes = 1 << 20
		f.SessionEpoch = -1
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = fuzzTopic
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.PartitionMaxBytes = 1 << 20
		rt.Partitions = append(rt.Partitions, rp)
		f.Topics = append(f.Topics, rt)
		out = append(out, f)
	}
	md := kmsg.NewPtrMetadataRequest()
	md.SetVersion(9)
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr(fuzzTopic)
	md.Topics = append(md.Topics, mt)
	out = append(out, md)

	ct := kmsg.NewPtrCreateTopicsRequest()
	ct.SetVersion(5)
	ctt := kmsg.NewCreateTopicsRequestTopic()
	ctt.Topic, ctt.NumPartitions, ctt.ReplicationFactor = "created", 1, 1
	ct.Topics = append(ct.Topics, ctt)
	out = append(out, ct)

	jg := kmsg.NewPtrJoinGroupRequest()
	jg.SetVersion(5)
	jg.Group, jg.SessionTimeoutMillis, jg.RebalanceTimeoutMillis, jg.ProtocolType = "g", 10000, 10000, "consumer"
	jp := kmsg.NewJoinGroupRequestProtocol()
	jp.Name, jp.Metadata = "range", []byte{0, 0, 0, 0, 0, 0, 0, 0}
	jg.Protocols = append(jg.Protocols, jp)
	out = append(out, jg)

	oc := kmsg.NewPtrOffsetCommitRequest()
	oc.SetVersion(2)
	oc.Group, oc.Generation = "simple", -1
	oct := kmsg.NewOffsetCommitRequestTopic()
	oct.Topic = fuzzTopic
	ocp := kmsg.NewOffsetCommitRequestTopicPartition()
	ocp.Offset = 1
	oct.Partitions = append(oct.Partitions, ocp)
	oc.Topics = append(oc.Topics, oct)
	out = append(out, oc)
	return out
}

// memConn is a net.Conn whose reads come from a fixed input (then io.EOF)
// and whose writes are collected, so serveConn runs synchronously.
type memConn struct {
	in  *bytes.Reader
	out bytes.Buffer
}

func (c *memConn) Read(p []byte) (int, error)       { return c.in.Read(p) }
func (c *memConn) Write(p []byte) (int, error)      { return c.out.Write(p) }
func (c *memConn) Close() error                     { return nil }
func (c *memConn) LocalAddr() net.Addr              { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9092} }
func (c *memConn) RemoteAddr() net.Addr             { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }
func (c *memConn) SetDeadline(time.Time) error      { return nil }
func (c *memConn) SetReadDeadline(time.Time) error  { return nil }
func (c *memConn) SetWriteDeadline(time.Time) error { return nil }
func (c *memConn) String() string                   { return "memConn" }
func readAllFrames(b []byte) (frames [][]byte, rest []byte) {
	for len(b) >= 4 {
		size := int32(binary.BigEndian.Uint32(b))
		if size < 0 || int(size) > len(b)-4 {
			break
		}
		frames = append(frames, b[4:4+size])
		b = b[4+size:]
	}
	return frames, b
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }

var _ io.Reader = (*memConn)(nil)
