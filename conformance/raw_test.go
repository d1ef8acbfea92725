package conformance

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// rawConn is a hand-driven Kafka connection for requests a well-behaved
// client would never send.
type rawConn struct {
	tb     testing.TB
	conn   net.Conn
	corrID int32
	// versions is the broker's ApiVersions answer, filled by negotiate.
	versions map[int16][2]int16
}

func dialRaw(tb testing.TB, addr string) *rawConn {
	tb.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		tb.Fatalf("dial %s: %v", addr, err)
	}
	tb.Cleanup(func() { _ = conn.Close() })
	return &rawConn{tb: tb, conn: conn, corrID: 1}
}

// writeFrame sends b as is (size prefix included by the caller).
func (c *rawConn) writeFrame(b []byte) {
	c.tb.Helper()
	_ = c.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.conn.Write(b); err != nil {
		c.tb.Fatalf("write: %v", err)
	}
}

// send frames req at its Version and returns the correlation id used.
func (c *rawConn) send(req kmsg.Request) int32 {
	c.tb.Helper()
	c.corrID++
	frame := kmsg.NewRequestFormatter(kmsg.FormatterClientID("conformance-raw")).AppendRequest(nil, req, c.corrID)
	c.writeFrame(frame)
	return c.corrID
}

// readFrame reads one size-prefixed response and checks its correlation id.
// It returns the body after the correlation id.
func (c *rawConn) readFrame(corrID int32) ([]byte, error) {
	_ = c.conn.SetReadDeadline(time.Now().Add(15 * time.Second))
	var sizeBuf [4]byte
	if _, err := io.ReadFull(c.conn, sizeBuf[:]); err != nil {
		return nil, err
	}
	size := int32(binary.BigEndian.Uint32(sizeBuf[:]))
	if size < 4 || size > 64<<20 {
		return nil, fmt.Errorf("response frame size %d", size)
	}
	body := make([]byte, size)
	if _, err := io.ReadFull(c.conn, body); err != nil {
		return nil, err
	}
	if got := int32(binary.BigEndian.Uint32(body)); got != corrID {
		return nil, fmt.Errorf("correlation id %d, want %d", got, corrID)
	}
	return body[4:], nil
}

// roundTrip sends req and decodes the response of the same version.
func (c *rawConn) roundTrip(req kmsg.Request) kmsg.Response {
	c.tb.Helper()
	return c.recv(req, c.send(req))
}

// recv reads the response to req (sent with correlation id id), skipping
// the flexible response header's tagged fields where they exist
// (ApiVersions responses never have them).
func (c *rawConn) recv(req kmsg.Request, id int32) kmsg.Response {
	c.tb.Helper()
	body, err := c.readFrame(id)
	if err != nil {
		c.tb.Fatalf("%s v%d: %v", kmsg.NameForKey(req.Key()), req.GetVersion(), err)
	}
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	if resp.IsFlexible() && req.Key() != kmsg.ApiVersions.Int16() {
		body, err = skipTags(body)
		if err != nil {
			c.tb.Fatalf("response header: %v", err)
		}
	}
	if err := resp.ReadFrom(body); err != nil {
		c.tb.Fatalf("decode %s v%d response: %v", kmsg.NameForKey(req.Key()), req.GetVersion(), err)
	}
	return resp
}

// skipTags skips an empty tagged-field section (a single uvarint 0), the
// only one a response header carries today.
func skipTags(b []byte) ([]byte, error) {
	n, used := binary.Uvarint(b)
	if used <= 0 {
		return nil, errors.New("bad tagged-field count")
	}
	if n != 0 {
		return nil, fmt.Errorf("response header has %d tagged fields", n)
	}
	return b[used:], nil
}

// negotiate asks the broker for its ApiVersions (v0, understood by every
// broker) and remembers them.
func (c *rawConn) negotiate() {
	c.tb.Helper()
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = 0
	resp := c.roundTrip(req).(*kmsg.ApiVersionsResponse)
	if resp.ErrorCode != 0 {
		c.tb.Fatalf("ApiVersions v0: error code %d", resp.ErrorCode)
	}
	c.versions = map[int16][2]int16{}
	for _, k := range resp.ApiKeys {
		c.versions[k.ApiKey] = [2]int16{k.MinVersion, k.MaxVersion}
	}
}

// version picks the highest version of key that both the broker and we
// (capped at max) support.
func (c *rawConn) version(key kmsg.Key, max int16) int16 {
	c.tb.Helper()
	if c.versions == nil {
		c.negotiate()
	}
	r, ok := c.versions[key.Int16()]
	if !ok {
		c.tb.Fatalf("broker does not support %s", kmsg.NameForKey(key.Int16()))
	}
	v := min(r[1], max)
	if v < r[0] {
		c.tb.Fatalf("%s: broker supports v%d..v%d, test needs <= v%d", kmsg.NameForKey(key.Int16()), r[0], r[1], max)
	}
	return v
}

// expectClosed asserts the broker closes the connection (rather than
// answering or leaving it hanging) within the deadline.
func (c *rawConn) expectClosed(what string) {
	c.tb.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 4096)
	for {
		_, err := c.conn.Read(buf)
		if err == nil {
			continue // a response to something earlier, or junk: keep draining
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			c.tb.Fatalf("%s: broker kept the connection open", what)
		}
		return // EOF or reset: closed
	}
}

// rawRecord is a record for buildBatch.
type rawRecord struct {
	Key, Value []byte
}

// buildBatch encodes a v2 (magic 2) uncompressed, non-transactional,
// non-idempotent record batch with a correct CRC-32C.
func buildBatch(timestampMillis int64, recs ...rawRecord) []byte {
	return buildIdempotentBatch(timestampMillis, -1, -1, -1, recs...)
}

// buildIdempotentBatch encodes a v2 uncompressed batch carrying a producer
// id, epoch and first sequence (all -1 for a plain batch).
func buildIdempotentBatch(timestampMillis, producerID int64, epoch int16, firstSeq int32, recs ...rawRecord) []byte {
	var records []byte
	for i, r := range recs {
		rec := kmsg.Record{OffsetDelta: int32(i), Key: r.Key, Value: r.Value}
		body := rec.AppendTo(nil)[1:] // drop the varint 0 Length
		rec.Length = int32(len(body))
		records = rec.AppendTo(records)
	}
	b := kmsg.RecordBatch{
		FirstOffset:          0,
		PartitionLeaderEpoch: -1,
		Magic:                2,
		LastOffsetDelta:      int32(len(recs) - 1),
		FirstTimestamp:       timestampMillis,
		MaxTimestamp:         timestampMillis,
		ProducerID:           producerID,
		ProducerEpoch:        epoch,
		FirstSequence:        firstSeq,
		NumRecords:           int32(len(recs)),
		Records:              records,
	}
	raw := b.AppendTo(nil)
	// Length counts everything after itself; the CRC covers everything from
	// attributes (offset 21) on.
	binary.BigEndian.PutUint32(raw[8:], uint32(len(raw)-12))
	crc := crc32.Checksum(raw[21:], crc32.MakeTable(crc32.Castagnoli))
	binary.BigEndian.PutUint32(raw[17:], crc)
	return raw
}

// produceRequest builds a single-partition Produce request.
func produceRequest(version int16, topic string, partition int32, batch []byte) *kmsg.ProduceRequest {
	req := kmsg.NewPtrProduceRequest()
	req.Version = version
	req.Acks = -1
	req.TimeoutMillis = 10000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition = partition
	rp.Records = batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

// maxProduceVersion caps Produce below v13, which names topics by ID.
const maxProduceVersion = 12

// produceRaw sends one batch on a fresh connection and returns the
// partition's error code and base offset.
func produceRaw(tb testing.TB, addr, topic string, partition int32, batch []byte) (int16, int64) {
	tb.Helper()
	c := dialRaw(tb, addr)
	req := produceRequest(c.version(kmsg.Produce, maxProduceVersion), topic, partition, batch)
	resp := c.roundTrip(req).(*kmsg.ProduceResponse)
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		tb.Fatalf("produce response: want 1 topic with 1 partition, got %+v", resp.Topics)
	}
	p := resp.Topics[0].Partitions[0]
	return p.ErrorCode, p.BaseOffset
}
