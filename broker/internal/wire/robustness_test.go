package wire_test

import (
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/goleak"

	"github.com/highwater-io/highwater/broker"
	"github.com/highwater-io/highwater/broker/internal/handler"
	"github.com/highwater-io/highwater/broker/internal/records"
)

// testMaxRequestBytes is socket.request.max.bytes for these brokers: small,
// so the oversized-frame case costs nothing.
const testMaxRequestBytes = 64 << 10

// ioTimeout bounds every socket read and write of these tests.
const ioTimeout = 10 * time.Second

// testBroker is an in-process broker on 127.0.0.1:0 whose logger fails the
// test on a recovered handler panic.
type testBroker struct {
	b      *broker.Broker
	addr   string
	panics atomic.Int64
}

func startBroker(t *testing.T) *testBroker {
	t.Helper()
	tb := &testBroker{}
	b, err := broker.New(broker.Config{
		Properties: map[string]string{
			"listeners":                        "PLAINTEXT://127.0.0.1:0",
			"log.dirs":                         t.TempDir(),
			"socket.request.max.bytes":         strconv.Itoa(testMaxRequestBytes),
			"offsets.topic.num.partitions":     "1",
			"group.initial.rebalance.delay.ms": "0",
		},
		Logger: slog.New(&panicWatch{n: &tb.panics}),
	})
	if err != nil {
		t.Fatal(err)
	}
	tb.b, tb.addr = b, b.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		if err := b.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if n := tb.panics.Load(); n > 0 {
			t.Errorf("%d handler panics were recovered; bad input must never panic", n)
		}
	})
	return tb
}

type panicWatch struct{ n *atomic.Int64 }

func (p *panicWatch) Enabled(context.Context, slog.Level) bool { return true }
func (p *panicWatch) Handle(_ context.Context, r slog.Record) error {
	if r.Message == "handler panic" {
		p.n.Add(1)
	}
	return nil
}
func (p *panicWatch) WithAttrs([]slog.Attr) slog.Handler { return p }
func (p *panicWatch) WithGroup(string) slog.Handler      { return p }

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, ioTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(ioTimeout))
	return c
}

// frame encodes req with a request header, size-prefixed.
func frame(req kmsg.Request, correlationID int32) []byte {
	return kmsg.NewRequestFormatter(kmsg.FormatterClientID("robustness")).AppendRequest(nil, req, correlationID)
}

// readFrame reads one size-prefixed response and returns it without the prefix.
func readFrame(c net.Conn) ([]byte, error) {
	var size [4]byte
	if _, err := io.ReadFull(c, size[:]); err != nil {
		return nil, err
	}
	buf := make([]byte, binary.BigEndian.Uint32(size[:]))
	_, err := io.ReadFull(c, buf)
	return buf, err
}

// roundTrip sends req and decodes its response (correlation id checked).
func roundTrip[R kmsg.Response](t *testing.T, c net.Conn, req kmsg.Request) R {
	t.Helper()
	const corr = 4242
	if _, err := c.Write(frame(req, corr)); err != nil {
		t.Fatal(err)
	}
	buf, err := readFrame(c)
	if err != nil {
		t.Fatalf("%s v%d: reading response: %v", kmsg.NameForKey(req.Key()), req.GetVersion(), err)
	}
	rd := kbin.Reader{Src: buf}
	if got := rd.Int32(); got != corr {
		t.Fatalf("correlation id %d, want %d", got, corr)
	}
	resp := req.ResponseKind()
	if resp.IsFlexible() && req.Key() != int16(kmsg.ApiVersions) {
		rd.Uvarint() // no tags are sent in response headers
	}
	if err := resp.ReadFrom(rd.Src); err != nil {
		t.Fatalf("decoding %s: %v", kmsg.NameForKey(req.Key()), err)
	}
	return resp.(R)
}

// expectClosed waits for the broker to close c.
func expectClosed(t *testing.T, c net.Conn) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(ioTimeout))
	var b [512]byte
	for {
		_, err := c.Read(b[:])
		if err == nil {
			continue // a response is not expected, but draining it is harmless
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("connection still open after %v", ioTimeout)
		}
		return // EOF or reset: closed
	}
}

// expectHealthy checks the broker answers ApiVersions on a fresh connection.
func expectHealthy(t *testing.T, addr string) {
	t.Helper()
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = 3
	req.ClientSoftwareName, req.ClientSoftwareVersion = "robustness", "1"
	resp := roundTrip[*kmsg.ApiVersionsResponse](t, dial(t, addr), req)
	if resp.ErrorCode != 0 || len(resp.ApiKeys) == 0 {
		t.Fatalf("ApiVersions on a fresh connection: error %d, %d keys", resp.ErrorCode, len(resp.ApiKeys))
	}
}

func header(key, version int16, correlationID int32) []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(key))
	b = binary.BigEndian.AppendUint16(b, uint16(version))
	b = binary.BigEndian.AppendUint32(b, uint32(correlationID))
	return append(b, 0, 3, 'b', 'a', 'd') // client id "bad"
}

func prefixed(body []byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)
}

// TestBadFramesCloseTheConnection: each malformed input closes its own
// connection, and the broker keeps serving fresh ones.
func TestBadFramesCloseTheConnection(t *testing.T) {
	tb := startBroker(t)
	produceV99 := append(header(int16(kmsg.Produce), 99, 1), make([]byte, 32)...)
	metadataGarbage := append(header(int16(kmsg.Metadata), 9, 1), 0xff, 0xff, 0xff, 0x7f, 1, 2)
	cases := []struct {
		name  string
		input []byte
	}{
		{"size -1", binary.BigEndian.AppendUint32(nil, 0xffffffff)},
		{"size 0", prefixed(nil)},
		{"size 3", prefixed([]byte{0, 18, 0})},
		{"size above socket.request.max.bytes", binary.BigEndian.AppendUint32(nil, testMaxRequestBytes+1)},
		{"size far above socket.request.max.bytes", binary.BigEndian.AppendUint32(nil, 1<<31-1)},
		{"unknown API key", prefixed(append(header(9999, 0, 1), make([]byte, 16)...))},
		{"negative API key", prefixed(append(header(-1, 0, 1), make([]byte, 16)...))},
		{"unsupported Produce version", prefixed(produceV99)},
		{"negative Produce version", prefixed(append(header(int16(kmsg.Produce), -1, 1), make([]byte, 16)...))},
		{"body that does not decode", prefixed(metadataGarbage)},
		{"truncated client id", prefixed([]byte{0, 18, 0, 3, 0, 0, 0, 1, 0, 50, 'x'})},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, tb.addr)
			if _, err := c.Write(tc.input); err != nil {
				t.Fatal(err)
			}
			expectClosed(t, c)
			expectHealthy(t, tb.addr)
		})
	}
}

// TestApiVersionsNewerThanServed is KIP-511: an ApiVersions request at a
// version the broker does not know is answered at v0 with
// UNSUPPORTED_VERSION and the full key list, so the client can downgrade.
func TestApiVersionsNewerThanServed(t *testing.T) {
	tb := startBroker(t)
	c := dial(t, tb.addr)
	// v127 would use a flexible header; the broker must not need to parse
	// the body (it cannot know v127's layout).
	req := append(header(int16(kmsg.ApiVersions), 127, 77), 0)       // empty header tags
	req = append(req, 3, 'c', 'l', 'i', 2, '1', 0, 0x55, 0x55, 0x55) // body of unknown shape
	if _, err := c.Write(prefixed(req)); err != nil {
		t.Fatal(err)
	}
	buf, err := readFrame(c)
	if err != nil {
		t.Fatalf("no KIP-511 answer: %v", err)
	}
	rd := kbin.Reader{Src: buf}
	if corr := rd.Int32(); corr != 77 {
		t.Fatalf("correlation id %d, want 77", corr)
	}
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.Version = 0
	if err := resp.ReadFrom(rd.Src); err != nil {
		t.Fatalf("v0 ApiVersions response does not decode: %v", err)
	}
	if resp.ErrorCode != kerr.UnsupportedVersion.Code {
		t.Fatalf("error code %d, want UNSUPPORTED_VERSION (35)", resp.ErrorCode)
	}
	// Only ApiVersions itself is listed, as Kafka answers: the client
	// learns every other range from its retry.
	var want handler.APIVersion
	for _, w := range handler.APIVersions() {
		if w.Key == int16(kmsg.ApiVersions) {
			want = w
		}
	}
	if len(resp.ApiKeys) != 1 {
		t.Fatalf("%d keys listed, want only ApiVersions", len(resp.ApiKeys))
	}
	if k := resp.ApiKeys[0]; k.ApiKey != want.Key || k.MinVersion != want.MinVersion || k.MaxVersion != want.MaxVersion {
		t.Errorf("key %d listed as %d-%d, registry has %s %d-%d", k.ApiKey, k.MinVersion, k.MaxVersion, want.Name, want.MinVersion, want.MaxVersion)
	}
	// The connection stays usable: the client retries at a version it shares.
	ok := kmsg.NewPtrApiVersionsRequest()
	ok.Version = 0
	if r := roundTrip[*kmsg.ApiVersionsResponse](t, c, ok); r.ErrorCode != 0 {
		t.Fatalf("retry at v0: error %d", r.ErrorCode)
	}
}

func createTopic(t *testing.T, addr, topic string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
	defer cancel()
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, topic)
	if err != nil || resp.Err != nil {
		t.Fatalf("creating %s: %v %v", topic, err, resp.Err)
	}
}

func produceRaw(t *testing.T, c net.Conn, version int16, topic string, data []byte) kmsg.ProduceResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrProduceRequest()
	req.Version, req.Acks, req.TimeoutMillis = version, -1, 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = data
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := roundTrip[*kmsg.ProduceResponse](t, c, req)
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("produce response shape: %+v", resp)
	}
	return resp.Topics[0].Partitions[0]
}

func validBatch(t *testing.T) []byte {
	t.Helper()
	b, err := records.Build(records.BuildOptions{FirstTimestamp: time.Now().UnixMilli(), ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1},
		records.CodecNone, []records.Record{{Key: []byte("k"), Value: []byte("v")}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// legacyMessageSet is one magic-1 message (Kafka 0.10's format).
func legacyMessageSet() []byte {
	msg := []byte{1, 0}                                                      // magic 1, attributes
	msg = binary.BigEndian.AppendUint64(msg, uint64(time.Now().UnixMilli())) // timestamp
	msg = binary.BigEndian.AppendUint32(msg, 0xffffffff)                     // null key
	msg = binary.BigEndian.AppendUint32(msg, 5)
	msg = append(msg, "hello"...)
	withCRC := binary.BigEndian.AppendUint32(nil, crc32.ChecksumIEEE(msg))
	withCRC = append(withCRC, msg...)
	set := binary.BigEndian.AppendUint64(nil, 0) // offset
	set = binary.BigEndian.AppendUint32(set, uint32(len(withCRC)))
	return append(set, withCRC...)
}

// TestProduceBadRecordsAnsweredInPartition: a corrupt CRC and an old
// message format are per-partition errors, not connection failures, and
// nothing is appended.
func TestProduceBadRecordsAnsweredInPartition(t *testing.T) {
	tb := startBroker(t)
	createTopic(t, tb.addr, "bad-records")
	c := dial(t, tb.addr)

	corrupt := validBatch(t)
	corrupt[len(corrupt)-1] ^= 0xff // the CRC covers everything after it
	cases := []struct {
		name    string
		version int16
		data    []byte
		want    *kerr.Error
	}{
		{"corrupt CRC v9", 9, corrupt, kerr.CorruptMessage},
		{"corrupt CRC v3", 3, corrupt, kerr.CorruptMessage},
		// Kafka 4 checks v3+ requests for magic 2 before anything else
		// (ProduceRequest.validateRecords) and answers INVALID_RECORD.
		{"magic 1 v9", 9, legacyMessageSet(), kerr.InvalidRecord},
		{"magic 1 v3", 3, legacyMessageSet(), kerr.InvalidRecord},
		// Kafka 4 refuses v0-2 outright; this broker serves them (for
		// librdkafka) with v2 batches only, answering older formats with
		// UNSUPPORTED_FOR_MESSAGE_FORMAT as KIP-724 describes.
		{"magic 1 v2", 2, legacyMessageSet(), kerr.UnsupportedForMessageFormat},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sp := produceRaw(t, c, tc.version, "bad-records", tc.data)
			if sp.ErrorCode != tc.want.Code {
				t.Fatalf("error %d (%v), want %s (%d)", sp.ErrorCode, kerr.ErrorForCode(sp.ErrorCode), tc.want.Message, tc.want.Code)
			}
		})
	}
	// The connection still works, and nothing bad reached the log.
	if sp := produceRaw(t, c, 9, "bad-records", validBatch(t)); sp.ErrorCode != 0 || sp.BaseOffset != 0 {
		t.Fatalf("valid batch after bad ones: error %d, base offset %d (want 0: nothing appended before)", sp.ErrorCode, sp.BaseOffset)
	}
}

// TestGoodClientUnaffectedByBadConnections: while many connections send
// garbage, stall mid-frame or announce oversized frames, a franz-go client
// produces and consumes every record in order.
func TestGoodClientUnaffectedByBadConnections(t *testing.T) {
	tb := startBroker(t)
	const topic, numRecords, badConns = "good", 300, 200
	createTopic(t, tb.addr, topic)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var opened atomic.Int64
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for i := 0; i < badConns/4; i++ {
				select {
				case <-stop:
					return
				default:
				}
				badConnection(tb.addr, rng, i)
				opened.Add(1)
			}
		}()
	}

	cl, err := kgo.NewClient(kgo.SeedBrokers(tb.addr), kgo.DefaultProduceTopic(topic),
		kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for i := range numRecords {
		if err := cl.ProduceSync(ctx, kgo.StringRecord(strconv.Itoa(i))).FirstErr(); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
	}
	for next := 0; next < numRecords; {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d records: %v", next, numRecords, err)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("fetch: %v", err) })
		fs.EachRecord(func(r *kgo.Record) {
			if string(r.Value) != strconv.Itoa(next) || r.Offset != int64(next) {
				t.Fatalf("record at offset %d is %q, want %d at %d", r.Offset, r.Value, next, next)
			}
			next++
		})
	}
	close(stop)
	wg.Wait()
	if opened.Load() == 0 {
		t.Fatal("no bad connection was made while the client worked")
	}
	expectHealthy(t, tb.addr)
}

// badConnection opens one connection and misbehaves on it in one of several
// ways chosen by i.
func badConnection(addr string, rng *rand.Rand, i int) {
	c, err := net.DialTimeout("tcp", addr, ioTimeout)
	if err != nil {
		return
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	switch i % 5 {
	case 0: // random garbage
		junk := make([]byte, 1+rng.IntN(256))
		for j := range junk {
			junk[j] = byte(rng.Uint32())
		}
		_, _ = c.Write(junk)
	case 1: // oversized frame announced
		_, _ = c.Write(binary.BigEndian.AppendUint32(nil, uint32(testMaxRequestBytes+1+rng.IntN(1<<20))))
	case 2: // half a valid frame, then hang up
		f := frame(kmsg.NewPtrMetadataRequest(), 1)
		_, _ = c.Write(f[:rng.IntN(len(f))])
	case 3: // a frame announcing more than it sends, left open briefly
		_, _ = c.Write(binary.BigEndian.AppendUint32(nil, 1000))
		_, _ = c.Write([]byte{0, 3, 0, 9})
		time.Sleep(time.Duration(rng.IntN(20)) * time.Millisecond)
	case 4: // a valid header for an unknown key, then garbage
		_, _ = c.Write(prefixed(append(header(int16(1000+rng.IntN(1000)), 0, 5), byte(rng.Uint32()))))
	}
	var b [64]byte
	_, _ = c.Read(b[:]) // wait for the broker to close (or the deadline)
}

// TestBrokerCloseLeaksNoGoroutines: after Run returns and Close, nothing the
// broker started is still running, even with connections open, a fetch
// parked in its long poll and a group member joined.
func TestBrokerCloseLeaksNoGoroutines(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	dir := t.TempDir()
	b, err := broker.New(broker.Config{
		Properties: map[string]string{"listeners": "PLAINTEXT://127.0.0.1:0", "log.dirs": dir, "offsets.topic.num.partitions": "1"},
		Logger:     slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	addr := b.Addr().String()
	createTopic(t, addr, "leak")

	idle := dial(t, addr)
	_ = idle
	half := dial(t, addr)
	if _, err := half.Write([]byte{0, 0, 0, 100, 0}); err != nil { // a frame never finished
		t.Fatal(err)
	}
	parked := dial(t, addr)
	fetch := kmsg.NewPtrFetchRequest()
	fetch.Version, fetch.MaxWaitMillis, fetch.MinBytes, fetch.MaxBytes, fetch.SessionEpoch = 12, 60_000, 1, 1<<20, -1
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = "leak"
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.PartitionMaxBytes = 1 << 20
	ft.Partitions = append(ft.Partitions, fp)
	fetch.Topics = append(fetch.Topics, ft)
	if _, err := parked.Write(frame(fetch, 9)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // let the fetch park (a shorter wait only weakens the check)

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(ioTimeout):
		t.Fatal("Run did not return after its context was cancelled (a parked request holds it?)")
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []net.Conn{idle, half, parked} {
		c.Close()
	}
}
