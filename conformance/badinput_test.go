package conformance

import (
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// requireHealthy checks that after some abuse the broker still serves a
// normal client on a fresh connection (and, if we run it, still runs).
// A broker that died is restarted so the next case starts clean.
func requireHealthy(t *testing.T, tg *target, topic string) {
	t.Helper()
	if tg.Node != nil {
		select { // give a crash a moment to show
		case <-tg.Node.Done():
		case <-time.After(200 * time.Millisecond):
		}
		if !tg.Node.Running() {
			t.Errorf("broker process died: %v; output:\n%s", tg.Node.ExitErr(), tg.Node.StderrTail(30))
			tg.Restart()
			return
		}
	}
	ctx := testCtx(t, 20*time.Second)
	cl := tg.client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("still-alive")}).FirstErr(); err != nil {
		t.Fatalf("normal produce after bad input: %v", err)
	}
	if _, err := kadm.NewClient(cl).ListTopics(ctx, topic); err != nil {
		t.Fatalf("normal metadata after bad input: %v", err)
	}
}

// frame returns the big-endian int32 size prefix for payload.
func frame(payload []byte) []byte {
	return binary.BigEndian.AppendUint32(nil, uint32(len(payload)))
}

// header builds a v1 request header (key, version, correlation id,
// client id) by hand, so it can carry values kmsg would not encode.
func header(key, version int16, corrID int32, clientID string) []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(key))
	b = binary.BigEndian.AppendUint16(b, uint16(version))
	b = binary.BigEndian.AppendUint32(b, uint32(corrID))
	b = binary.BigEndian.AppendUint16(b, uint16(len(clientID)))
	return append(b, clientID...)
}

// TestBadInputClosesConnection: framing the broker cannot parse, or an API
// key it does not know, makes Kafka close that connection; nothing else is
// affected.
func TestBadInputClosesConnection(t *testing.T) {
	tg := newTarget(t, nil)
	ctx := testCtx(t, 30*time.Second)
	topic := tg.createTopic(ctx, 1, nil)
	tests := []struct {
		name  string
		bytes func() []byte
	}{
		{"garbage header", func() []byte {
			p := []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
			return append(frame(p), p...)
		}},
		{"frame shorter than a header", func() []byte { return []byte{0, 0, 0, 2, 0, 18} }},
		{"negative size", func() []byte { return []byte{0xff, 0xff, 0xff, 0xfe, 1, 2, 3, 4} }},
		{"unknown api key", func() []byte {
			p := header(32000, 0, 7, "conformance")
			return append(frame(p), p...)
		}},
		{"client id longer than the frame", func() []byte {
			p := header(kmsg.Metadata.Int16(), 1, 7, "")
			binary.BigEndian.PutUint16(p[8:], 500)
			p = append(p, "short"...)
			return append(frame(p), p...)
		}},
		{"1 GiB frame", func() []byte { return []byte{0x40, 0, 0, 0, 0, 18, 0, 0} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dialRaw(t, tg.Bootstrap)
			c.writeFrame(tt.bytes())
			c.expectClosed(tt.name)
			requireHealthy(t, tg, topic)
		})
	}
}

// TestOversizedRequest: a frame whose size exceeds socket.request.max.bytes
// is refused by closing the connection before the body is read.
func TestOversizedRequest(t *testing.T) {
	const maxBytes = 102400
	tg := newTarget(t, map[string]string{"socket.request.max.bytes": "102400"})
	ctx := testCtx(t, 30*time.Second)
	topic := tg.createTopic(ctx, 1, nil)
	c := dialRaw(t, tg.Bootstrap)
	hdr := binary.BigEndian.AppendUint32(nil, maxBytes+1)
	c.writeFrame(append(hdr, header(kmsg.Metadata.Int16(), 1, 1, "x")...))
	c.expectClosed("frame of socket.request.max.bytes+1")
	requireHealthy(t, tg, topic)
}

// TestApiVersionsUnsupportedVersion (KIP-511): an ApiVersions request of a
// version the broker does not know is answered, in v0 format, with
// UNSUPPORTED_VERSION and the ApiVersions versions the broker does support,
// and the connection stays usable for a retry at v0.
func TestApiVersionsUnsupportedVersion(t *testing.T) {
	tg := newTarget(t, nil)
	c := dialRaw(t, tg.Bootstrap)
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = 127
	req.ClientSoftwareName = "conformance"
	req.ClientSoftwareVersion = "1.0"
	id := c.send(req)
	body, err := c.readFrame(id)
	if err != nil {
		t.Fatalf("ApiVersions v127: no answer: %v", err)
	}
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.Version = 0
	if err := resp.ReadFrom(body); err != nil {
		t.Fatalf("ApiVersions v127 answer is not a v0 response: %v", err)
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); !errors.Is(err, kerr.UnsupportedVersion) {
		t.Errorf("ApiVersions v127: error %v, want UNSUPPORTED_VERSION", err)
	}
	found := false
	for _, k := range resp.ApiKeys {
		if k.ApiKey == kmsg.ApiVersions.Int16() {
			found = true
			if k.MinVersion != 0 || k.MaxVersion < 3 {
				t.Errorf("ApiVersions range v%d..v%d, want v0..v3 or wider", k.MinVersion, k.MaxVersion)
			}
		}
	}
	if !found {
		t.Errorf("UNSUPPORTED_VERSION answer lacks the ApiVersions range: %+v", resp.ApiKeys)
	}
	// Same connection, v0 retry, as clients do.
	c.negotiate()
	if _, ok := c.versions[kmsg.Produce.Int16()]; !ok {
		t.Error("ApiVersions v0 after the retry lacks Produce")
	}
}

// TestCorruptBatch: a Produce whose record batch fails its CRC-32C check is
// refused with CORRUPT_MESSAGE and nothing is appended; the same batch with
// a correct CRC is accepted at offset 0.
func TestCorruptBatch(t *testing.T) {
	tg := newTarget(t, nil)
	ctx := testCtx(t, 30*time.Second)
	topic := tg.createTopic(ctx, 1, nil)
	good := buildBatch(time.Now().UnixMilli(), rawRecord{Key: []byte("k"), Value: []byte("hello")}, rawRecord{Value: []byte("world")})

	bad := append([]byte(nil), good...)
	bad[len(bad)-1] ^= 0xff // last byte of the last record's value
	code, _ := produceRaw(t, tg.Bootstrap, topic, 0, bad)
	if err := kerr.ErrorForCode(code); !errors.Is(err, kerr.CorruptMessage) {
		t.Errorf("produce with a bad CRC: %v, want CORRUPT_MESSAGE", err)
	}
	badCRC := append([]byte(nil), good...)
	badCRC[17] ^= 0x01 // the CRC field itself
	code, _ = produceRaw(t, tg.Bootstrap, topic, 0, badCRC)
	if err := kerr.ErrorForCode(code); !errors.Is(err, kerr.CorruptMessage) {
		t.Errorf("produce with a flipped CRC field: %v, want CORRUPT_MESSAGE", err)
	}
	if end := partition0(t, topic)(tg.admin().ListEndOffsets(ctx, topic)).Offset; end != 0 {
		t.Fatalf("end offset %d after refused batches, want 0", end)
	}

	code, base := produceRaw(t, tg.Bootstrap, topic, 0, good)
	if code != 0 || base != 0 {
		t.Fatalf("produce of the intact batch: %v at base offset %d, want success at 0", kerr.ErrorForCode(code), base)
	}
	recs := consumeN(t, ctx, tg, topic, 2)[0]
	if string(recs[0].Key) != "k" || string(recs[0].Value) != "hello" || recs[1].Key != nil || string(recs[1].Value) != "world" {
		t.Errorf("read back %q=%q, %q=%q", recs[0].Key, recs[0].Value, recs[1].Key, recs[1].Value)
	}
	requireHealthy(t, tg, topic)
}
