package records

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"testing"

	"pgregory.net/rapid"
)

var allCodecs = []Codec{CodecNone, CodecGzip, CodecSnappy, CodecLZ4, CodecZstd}

// sampleRecords covers null vs empty keys, values and header values.
func sampleRecords() []Record {
	return []Record{
		{OffsetDelta: 0, TimestampDelta: 0, Key: nil, Value: nil},
		{OffsetDelta: 1, TimestampDelta: 5, Key: []byte{}, Value: []byte{}},
		{OffsetDelta: 2, TimestampDelta: -3, Key: []byte("k"), Value: bytes.Repeat([]byte("value"), 1000),
			Headers: []RecordHeader{{Key: "", Value: nil}, {Key: "h", Value: []byte{}}, {Key: "h2", Value: []byte("v")}}},
		{OffsetDelta: 3, TimestampDelta: 1 << 40, Key: []byte("key"), Value: nil, Attributes: 0},
	}
}

func testOpts() BuildOptions {
	o := DefaultBuildOptions()
	o.BaseOffset = 42
	o.PartitionLeaderEpoch = 7
	o.FirstTimestamp = 1_700_000_000_000
	o.ProducerID = 1234
	o.ProducerEpoch = 3
	o.BaseSequence = 99
	o.Transactional = true
	return o
}

// recordsEqual compares records, treating a nil Headers slice and an empty
// one as equal but nil and empty keys/values as different.
func recordsEqual(t *testing.T, want, got []Record) {
	t.Helper()
	if len(want) != len(got) {
		t.Fatalf("record count: want %d, got %d", len(want), len(got))
	}
	for i := range want {
		w, g := want[i], got[i]
		if len(w.Headers) == 0 {
			w.Headers = nil
		}
		if len(g.Headers) == 0 {
			g.Headers = nil
		}
		if (w.Key == nil) != (g.Key == nil) || (w.Value == nil) != (g.Value == nil) {
			t.Fatalf("record %d: null-ness changed: want key nil=%v value nil=%v, got %v %v",
				i, w.Key == nil, w.Value == nil, g.Key == nil, g.Value == nil)
		}
		for j := range w.Headers {
			if j < len(g.Headers) && (w.Headers[j].Value == nil) != (g.Headers[j].Value == nil) {
				t.Fatalf("record %d header %d: null-ness changed", i, j)
			}
		}
		if !reflect.DeepEqual(normalize(w), normalize(g)) {
			t.Fatalf("record %d differs:\nwant %+v\ngot  %+v", i, w, g)
		}
	}
}

// normalize makes empty non-nil slices compare equal in DeepEqual (null-ness
// is checked separately).
func normalize(r Record) Record {
	fix := func(b []byte) []byte {
		if b != nil && len(b) == 0 {
			return []byte{}
		}
		return b
	}
	r.Key, r.Value = fix(r.Key), fix(r.Value)
	hs := make([]RecordHeader, len(r.Headers))
	for i, h := range r.Headers {
		hs[i] = RecordHeader{h.Key, fix(h.Value)}
	}
	r.Headers = hs
	return r
}

func sameHeaderFields(t *testing.T, want, got Header) {
	t.Helper()
	w, g := want, got
	w.Length, g.Length, w.CRC, g.CRC = 0, 0, 0, 0
	w.Attributes &^= attrCodecMask
	g.Attributes &^= attrCodecMask
	if w != g {
		t.Fatalf("header fields changed:\nwant %+v\ngot  %+v", w, g)
	}
}

func TestBuildDecodeEveryCodec(t *testing.T) {
	for _, c := range allCodecs {
		t.Run(c.String(), func(t *testing.T) {
			recs := sampleRecords()
			b, err := Build(testOpts(), c, recs)
			if err != nil {
				t.Fatal(err)
			}
			h, got, err := Decode(b)
			if err != nil {
				t.Fatal(err)
			}
			if h.Codec() != c || h.BaseOffset != 42 || h.PartitionLeaderEpoch != 7 || h.ProducerID != 1234 ||
				h.ProducerEpoch != 3 || h.BaseSequence != 99 || !h.Transactional() || h.Control() ||
				h.NumRecords != 4 || h.LastOffsetDelta != 3 || h.Size() != len(b) {
				t.Fatalf("header %+v", h)
			}
			if want := int64(1_700_000_000_000 + 1<<40); h.MaxTimestamp != want {
				t.Fatalf("max timestamp %d, want %d (computed from deltas)", h.MaxTimestamp, want)
			}
			recordsEqual(t, recs, got)
			if _, err := Validate(b, 1<<20); err != nil {
				t.Fatalf("Validate: %v", err)
			}
		})
	}
}

func TestRecompressEveryPair(t *testing.T) {
	recs := sampleRecords()
	for _, from := range allCodecs {
		src, err := Build(testOpts(), from, recs)
		if err != nil {
			t.Fatal(err)
		}
		srcH, err := CheckBatch(src)
		if err != nil {
			t.Fatal(err)
		}
		for _, to := range allCodecs {
			t.Run(from.String()+"->"+to.String(), func(t *testing.T) {
				out, err := Recompress(src, to)
				if err != nil {
					t.Fatal(err)
				}
				if from == to && &out[0] != &src[0] {
					t.Fatal("same codec: want the batch back unchanged")
				}
				h, got, err := Decode(out)
				if err != nil {
					t.Fatal(err)
				}
				if h.Codec() != to {
					t.Fatalf("codec %v, want %v", h.Codec(), to)
				}
				sameHeaderFields(t, srcH, h)
				recordsEqual(t, recs, got)
			})
		}
	}
}

// genRecords draws records with strictly increasing offset deltas (gaps
// allowed, as after compaction), null and empty fields.
func genRecords(t *rapid.T) []Record {
	n := rapid.IntRange(0, 20).Draw(t, "n")
	nullable := func(label string) []byte {
		if rapid.Bool().Draw(t, label+"Null") {
			return nil
		}
		return rapid.SliceOfN(rapid.Byte(), 0, 300).Draw(t, label)
	}
	recs := make([]Record, n)
	delta := int32(-1)
	for i := range recs {
		delta += int32(rapid.IntRange(1, 3).Draw(t, "gap"))
		r := Record{
			Attributes:     rapid.Int8().Draw(t, "attrs"),
			TimestampDelta: rapid.Int64().Draw(t, "ts"),
			OffsetDelta:    delta,
			Key:            nullable("key"),
			Value:          nullable("value"),
		}
		for range rapid.IntRange(0, 3).Draw(t, "nh") {
			r.Headers = append(r.Headers, RecordHeader{Key: rapid.String().Draw(t, "hk"), Value: nullable("hv")})
		}
		recs[i] = r
	}
	return recs
}

func TestRoundTripProperty(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		recs := genRecords(rt)
		c := rapid.SampledFrom(allCodecs).Draw(rt, "codec")
		to := rapid.SampledFrom(allCodecs).Draw(rt, "to")
		opts := DefaultBuildOptions()
		opts.BaseOffset = rapid.Int64().Draw(rt, "base")
		opts.FirstTimestamp = rapid.Int64().Draw(rt, "first")
		b, err := Build(opts, c, recs)
		if err != nil {
			rt.Fatal(err)
		}
		b, err = Recompress(b, to)
		if err != nil {
			rt.Fatal(err)
		}
		_, got, err := Decode(b)
		if err != nil {
			rt.Fatal(err)
		}
		if len(got) != len(recs) {
			rt.Fatalf("count %d != %d", len(got), len(recs))
		}
		for i := range recs {
			if !reflect.DeepEqual(normalize(recs[i]), normalize(got[i])) ||
				(recs[i].Key == nil) != (got[i].Key == nil) || (recs[i].Value == nil) != (got[i].Value == nil) {
				rt.Fatalf("record %d: want %+v got %+v", i, recs[i], got[i])
			}
			for j := range recs[i].Headers {
				if (recs[i].Headers[j].Value == nil) != (got[i].Headers[j].Value == nil) {
					rt.Fatalf("record %d header %d null-ness", i, j)
				}
			}
		}
	})
}

func TestParseCodec(t *testing.T) {
	for name, want := range map[string]Codec{
		"none": CodecNone, "uncompressed": CodecNone, "gzip": CodecGzip,
		"snappy": CodecSnappy, "lz4": CodecLZ4, "zstd": CodecZstd,
	} {
		if got, err := ParseCodec(name); err != nil || got != want {
			t.Errorf("ParseCodec(%q) = %v, %v; want %v", name, got, err, want)
		}
	}
	for _, name := range []string{"producer", "GZIP", "", "brotli"} {
		if _, err := ParseCodec(name); !errors.Is(err, ErrUnknownCodec) {
			t.Errorf("ParseCodec(%q) error %v, want ErrUnknownCodec", name, err)
		}
	}
}

// TestDecompressBomb: a payload that expands past the limit fails with
// ErrCorrupt and ErrDecompressLimit for every codec, and fits when allowed.
func TestDecompressBomb(t *testing.T) {
	plain := make([]byte, 4<<20) // zeros compress ~1000x
	for _, c := range allCodecs[1:] {
		t.Run(c.String(), func(t *testing.T) {
			z, err := Compress(c, nil, plain)
			if err != nil {
				t.Fatal(err)
			}
			_, err = DecompressMax(c, z, 1<<20)
			if !errors.Is(err, ErrCorrupt) || !errors.Is(err, ErrDecompressLimit) {
				t.Fatalf("over limit: err %v, want ErrCorrupt+ErrDecompressLimit", err)
			}
			out, err := DecompressMax(c, z, len(plain))
			if err != nil || !bytes.Equal(out, plain) {
				t.Fatalf("at limit: err %v, equal %v", err, bytes.Equal(out, plain))
			}
			if _, err := DecompressMax(c, z[:len(z)/2], len(plain)); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("truncated: err %v, want ErrCorrupt", err)
			}
		})
	}
}

func TestDecompressSmallLimitAcceptsBigWindow(t *testing.T) {
	// A zstd frame whose declared window is larger than a small caller
	// limit still decodes when its output fits.
	plain := bytes.Repeat([]byte("abc"), 100)
	z, err := Compress(CodecZstd, nil, plain)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := DecompressMax(CodecZstd, z, 400); err != nil || !bytes.Equal(out, plain) {
		t.Fatalf("err %v", err)
	}
	if _, err := DecompressMax(CodecZstd, z, 100); !errors.Is(err, ErrDecompressLimit) {
		t.Fatalf("want limit error, got %v", err)
	}
}

func TestSnappyRawBlocksAndXerial(t *testing.T) {
	plain := bytes.Repeat([]byte("0123456789"), 10_000) // > one 32 KiB chunk
	x, _ := Compress(CodecSnappy, nil, plain)
	if !bytes.HasPrefix(x, xerialMagic) {
		t.Fatal("Compress(snappy) must write xerial framing")
	}
	if binary.BigEndian.Uint32(x[8:]) != 1 || binary.BigEndian.Uint32(x[12:]) != 1 {
		t.Fatal("xerial version and compatible version must be 1")
	}
	raw := s2EncodeSnappy(plain)
	for name, z := range map[string][]byte{"xerial": x, "raw": raw} {
		out, err := Decompress(CodecSnappy, z)
		if err != nil || !bytes.Equal(out, plain) {
			t.Fatalf("%s: err %v", name, err)
		}
	}
}

func validBatch(t *testing.T, c Codec, mutate func(*BuildOptions, []Record) []Record) []byte {
	t.Helper()
	o := DefaultBuildOptions()
	o.FirstTimestamp = 1000
	recs := []Record{{OffsetDelta: 0, Key: []byte("a"), Value: []byte("1")}, {OffsetDelta: 1, TimestampDelta: 10, Key: []byte("b"), Value: []byte("2")}}
	if mutate != nil {
		recs = mutate(&o, recs)
	}
	b, err := Build(o, c, recs)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// rawPatch rewrites header bytes after building and fixes the CRC, to make
// batches Build refuses to make.
func rawPatch(b []byte, off int, v uint32) []byte {
	binary.BigEndian.PutUint32(b[off:], v)
	UpdateCRC(b)
	return b
}

func TestValidateRules(t *testing.T) {
	for _, c := range allCodecs {
		t.Run(c.String(), func(t *testing.T) {
			cases := []struct {
				name  string
				batch func() []byte
				want  error
			}{
				{"ok", func() []byte { return validBatch(t, c, nil) }, nil},
				{"crc", func() []byte { b := validBatch(t, c, nil); b[len(b)-1] ^= 1; return b }, ErrCorrupt},
				{"truncated", func() []byte { b := validBatch(t, c, nil); return b[:len(b)-1] }, ErrCorrupt},
				{"trailing bytes", func() []byte { return append(validBatch(t, c, nil), 0) }, ErrInvalidRecord},
				{"magic 1", func() []byte { b := validBatch(t, c, nil); b[offMagic] = 1; return b }, ErrUnsupportedMagic},
				{"no records", func() []byte {
					return validBatch(t, c, func(_ *BuildOptions, _ []Record) []Record { return nil })
				}, ErrInvalidRecord},
				{"count > offsets", func() []byte { return rawPatch(validBatch(t, c, nil), offNumRecords, 3) }, ErrInvalidRecord},
				{"offsets > count", func() []byte { return rawPatch(validBatch(t, c, nil), offLastOffsetDelta, 2) }, ErrInvalidRecord},
				{"gap in deltas", func() []byte {
					b := validBatch(t, c, func(o *BuildOptions, r []Record) []Record { r[1].OffsetDelta = 2; return r })
					return rawPatch(b, offLastOffsetDelta, 1)
				}, ErrInvalidRecord},
				{"control", func() []byte {
					return validBatch(t, c, func(o *BuildOptions, r []Record) []Record { o.Control = true; return r })
				}, ErrInvalidRecord},
				{"producer id without sequence", func() []byte {
					return validBatch(t, c, func(o *BuildOptions, r []Record) []Record { o.ProducerID = 5; o.ProducerEpoch = 0; return r })
				}, ErrInvalidRecord},
				{"idempotent ok", func() []byte {
					return validBatch(t, c, func(o *BuildOptions, r []Record) []Record {
						o.ProducerID, o.ProducerEpoch, o.BaseSequence = 5, 0, 0
						return r
					})
				}, nil},
				{"log append time", func() []byte {
					return validBatch(t, c, func(o *BuildOptions, r []Record) []Record { o.LogAppendTime = true; return r })
				}, ErrInvalidTimestamp},
				{"codec 7", func() []byte {
					b := validBatch(t, c, nil)
					b[offAttributes+1] |= 7
					UpdateCRC(b)
					return b
				}, ErrCorrupt},
			}
			for _, tc := range cases {
				_, err := Validate(tc.batch(), 1<<20)
				if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
					t.Errorf("%s: err %v, want %v", tc.name, err, tc.want)
				}
			}
		})
	}
}

func TestValidateBatchTopicRules(t *testing.T) {
	b := validBatch(t, CodecLZ4, func(o *BuildOptions, r []Record) []Record { r[1].Key = nil; return r })
	_, err := ValidateBatch(b, ValidateOptions{RequireKeys: true})
	var ve *ValidationError
	if !errors.As(err, &ve) || !errors.Is(err, ErrInvalidRecord) || len(ve.Records) != 1 || ve.Records[0].Index != 1 {
		t.Fatalf("compacted: err %v", err)
	}

	b = validBatch(t, CodecZstd, nil) // timestamps 1000 and 1010
	v, err := ValidateBatch(b, ValidateOptions{CheckTimestamps: true, NowMs: 1005, TimestampBeforeMaxMs: 10, TimestampAfterMaxMs: 10})
	if err != nil || v.MaxTimestamp != 1010 || v.OffsetDeltaOfMaxTimestamp != 1 {
		t.Fatalf("in range: %+v %v", v, err)
	}
	_, err = ValidateBatch(b, ValidateOptions{CheckTimestamps: true, NowMs: 1005, TimestampBeforeMaxMs: 1, TimestampAfterMaxMs: 1 << 62})
	if !errors.As(err, &ve) || !errors.Is(err, ErrInvalidTimestamp) || len(ve.Records) != 1 || ve.Records[0].Index != 0 {
		t.Fatalf("too old: err %v", err)
	}
	// Kafka's default before.max.ms is Long.MAX_VALUE: must not wrap.
	_, err = ValidateBatch(b, ValidateOptions{CheckTimestamps: true, NowMs: 1005, TimestampBeforeMaxMs: 1<<63 - 1, TimestampAfterMaxMs: 1<<63 - 1})
	if err != nil {
		t.Fatalf("unbounded: %v", err)
	}
}

func TestDecodeAllowsCompactedGaps(t *testing.T) {
	o := DefaultBuildOptions()
	o.LastOffsetDelta = 9
	recs := []Record{{OffsetDelta: 2, Value: []byte("x")}, {OffsetDelta: 7, Value: []byte("y")}}
	b, err := Build(o, CodecGzip, recs)
	if err != nil {
		t.Fatal(err)
	}
	h, got, err := Decode(b)
	if err != nil || h.LastOffsetDelta != 9 || len(got) != 2 {
		t.Fatalf("%+v %v", h, err)
	}
	if _, err := Validate(b, 1<<20); !errors.Is(err, ErrInvalidRecord) {
		t.Fatalf("a client batch with gaps must be rejected, got %v", err)
	}
	// Empty batch (everything compacted away) still decodes.
	if b, err = Build(o, CodecNone, nil); err != nil {
		t.Fatal(err)
	}
	if h, got, err = Decode(b); err != nil || len(got) != 0 || h.LastOffsetDelta != 9 {
		t.Fatalf("%+v %v", h, err)
	}
}

func TestBuildRejects(t *testing.T) {
	o := DefaultBuildOptions()
	if _, err := Build(o, CodecNone, []Record{{OffsetDelta: 0}, {OffsetDelta: 0}}); !errors.Is(err, ErrInvalidRecord) {
		t.Errorf("duplicate deltas: %v", err)
	}
	if _, err := Build(o, Codec(5), nil); !errors.Is(err, ErrUnknownCodec) {
		t.Errorf("codec 5: %v", err)
	}
	o.LastOffsetDelta = 1
	if _, err := Build(o, CodecNone, []Record{{OffsetDelta: 0}, {OffsetDelta: 3}}); !errors.Is(err, ErrInvalidRecord) {
		t.Errorf("last delta below records: %v", err)
	}
}

func TestDecodeRejectsBadRecords(t *testing.T) {
	// Hand-made records payloads inside an otherwise valid uncompressed
	// batch with one record.
	for name, rec := range map[string][]byte{
		"key length -2":       {0x0c, 0, 0, 0, 0x03, 0, 0},
		"length too long":     {0x40, 0, 0, 0, 0x01, 0x01, 0},
		"length too short":    {0x08, 0, 0, 0, 0x01, 0x01, 0},
		"negative headers":    {0x0c, 0, 0, 0, 0x01, 0x01, 0x01},
		"header null key":     {0x10, 0, 0, 0, 0x01, 0x01, 0x02, 0x01, 0x01},
		"overlong varint":     {0x0c, 0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0},
		"trailing after last": {0x0c, 0, 0, 0, 0x01, 0x01, 0, 0},
	} {
		b := make([]byte, HeaderSize, HeaderSize+len(rec))
		b = append(b, rec...)
		putHeader(b, Header{Length: int32(len(b) - 12), Magic: 2, NumRecords: 1, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1})
		if _, _, err := Decode(b); !errors.Is(err, ErrInvalidRecord) {
			t.Errorf("%s: err %v, want ErrInvalidRecord", name, err)
		}
	}
	// And the minimal valid record decodes.
	b := make([]byte, HeaderSize, HeaderSize+7)
	b = append(b, 0x0c, 0, 0, 0, 0x01, 0x01, 0)
	putHeader(b, Header{Length: int32(len(b) - 12), Magic: 2, NumRecords: 1})
	if _, recs, err := Decode(b); err != nil || recs[0].Key != nil || recs[0].Value != nil {
		t.Fatalf("minimal record: %v", err)
	}
}

func TestSplitBatches(t *testing.T) {
	a := validBatch(t, CodecNone, nil)
	b := validBatch(t, CodecZstd, nil)
	blob := append(append([]byte{}, a...), b...)
	got, err := SplitBatches(blob)
	if err != nil || len(got) != 2 || !bytes.Equal(got[0], a) || !bytes.Equal(got[1], b) {
		t.Fatalf("split: %d batches, %v", len(got), err)
	}
	if cap(got[0]) != len(a) {
		t.Fatal("sub-slices must be capacity-limited")
	}
	if got, err := SplitBatches(nil); err != nil || len(got) != 0 {
		t.Fatalf("empty: %v %v", got, err)
	}
	for i := 1; i < len(b); i++ {
		if _, err := SplitBatches(append(append([]byte{}, a...), b[:i]...)); err == nil {
			t.Fatalf("trailing partial batch of %d bytes accepted", i)
		}
	}
	old := append([]byte{}, a...)
	old[offMagic] = 1
	if _, err := SplitBatches(old); !errors.Is(err, ErrUnsupportedMagic) {
		t.Fatalf("magic 1: %v", err)
	}
}

func TestSetMaxTimestamp(t *testing.T) {
	b := validBatch(t, CodecNone, nil)
	crc := binary.BigEndian.Uint32(b[offCRC:])
	SetMaxTimestamp(b, 1010, false) // unchanged
	if binary.BigEndian.Uint32(b[offCRC:]) != crc {
		t.Fatal("no-op must keep the CRC")
	}
	SetMaxTimestamp(b, 5000, true)
	h, err := CheckBatch(b)
	if err != nil || h.MaxTimestamp != 5000 || !h.LogAppendTime() {
		t.Fatalf("%+v %v", h, err)
	}
}

func ExampleBuild() {
	recs := []Record{{OffsetDelta: 0, Key: []byte("k"), Value: []byte("v")}}
	b, _ := Build(DefaultBuildOptions(), CodecZstd, recs)
	h, got, _ := Decode(b)
	fmt.Println(h.Codec(), h.NumRecords, string(got[0].Value))
	// Output: zstd 1 v
}

// TestLZ4FrameFormat pins the frame Java's Lz4BlockInputStream reads:
// version 1, independent blocks, content checksum, 64 KiB blocks, also for
// a pooled (reset) writer.
func TestLZ4FrameFormat(t *testing.T) {
	for range 3 {
		z, err := Compress(CodecLZ4, nil, bytes.Repeat([]byte("x"), 200_000))
		if err != nil {
			t.Fatal(err)
		}
		if binary.LittleEndian.Uint32(z) != 0x184D2204 {
			t.Fatalf("magic %x", z[:4])
		}
		flg, bd := z[4], z[5]
		if flg>>6 != 1 || flg&0x20 == 0 || flg&0x04 == 0 {
			t.Fatalf("FLG %08b: want version 1, block independence, content checksum", flg)
		}
		if bd != 0x40 {
			t.Fatalf("BD %02x: want 64 KiB blocks (0x40)", bd)
		}
	}
}

// TestConcurrentUse shares the pooled codecs between goroutines (run with
// -race): every goroutine must get its own records back.
func TestConcurrentUse(t *testing.T) {
	done := make(chan error)
	for g := range 8 {
		go func() {
			done <- func() error {
				for i := range 20 {
					c := allCodecs[(g+i)%len(allCodecs)]
					recs := []Record{{OffsetDelta: 0, Value: bytes.Repeat([]byte{byte(g)}, 5000+i)}}
					b, err := Build(DefaultBuildOptions(), c, recs)
					if err != nil {
						return err
					}
					if _, err := Validate(b, 1<<20); err != nil {
						return err
					}
					b, err = Recompress(b, allCodecs[(g+i+1)%len(allCodecs)])
					if err != nil {
						return err
					}
					_, got, err := Decode(b)
					if err != nil {
						return err
					}
					if !bytes.Equal(got[0].Value, recs[0].Value) {
						return fmt.Errorf("goroutine %d got another goroutine's value", g)
					}
				}
				return nil
			}()
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}
