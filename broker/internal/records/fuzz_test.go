package records

import (
	"bytes"
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

var genCorpus = flag.Bool("gen-corpus", false, "rewrite testdata/fuzz seed corpora from franz-go and Build batches")

// FuzzDecode: Decode, Validate and Recompress never panic on any input, and
// whatever Decode accepts survives a rebuild with the same codec and header
// fields and a recompression to every codec.
func FuzzDecode(f *testing.F) {
	for _, c := range allCodecs {
		b, err := Build(testOpts(), c, sampleRecords()[:2])
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkDecodeRoundTrip(t, data)
		// The CRC rejects almost every mutation before the record and codec
		// parsers see it; fix the length and CRC so the fuzzer reaches them.
		if len(data) >= HeaderSize && data[offMagic] == 2 {
			fixed := bytes.Clone(data)
			binary.BigEndian.PutUint32(fixed[offLength:], uint32(len(fixed)-12))
			UpdateCRC(fixed)
			checkDecodeRoundTrip(t, fixed)
		}
	})
}

func checkDecodeRoundTrip(t *testing.T, data []byte) {
	_, _ = Validate(data, 1<<20)
	_, _ = SplitBatches(data)
	h, recs, err := DecodeMax(data, 1<<20)
	if err != nil {
		return
	}
	opts := BuildOptions{
		BaseOffset: h.BaseOffset, PartitionLeaderEpoch: h.PartitionLeaderEpoch,
		FirstTimestamp: h.FirstTimestamp, MaxTimestamp: h.MaxTimestamp,
		ProducerID: h.ProducerID, ProducerEpoch: h.ProducerEpoch, BaseSequence: h.BaseSequence,
		LastOffsetDelta: h.LastOffsetDelta,
		Transactional:   h.Transactional(), Control: h.Control(), LogAppendTime: h.LogAppendTime(),
	}
	again, err := Build(opts, h.Codec(), recs)
	if err != nil {
		t.Fatalf("rebuilding a decoded batch: %v", err)
	}
	h2, recs2, err := Decode(again)
	if err != nil {
		t.Fatalf("decoding a rebuilt batch: %v", err)
	}
	if h2.Codec() != h.Codec() || h2.NumRecords != h.NumRecords || h2.LastOffsetDelta != h.LastOffsetDelta ||
		h2.BaseOffset != h.BaseOffset || h2.ProducerID != h.ProducerID || h2.BaseSequence != h.BaseSequence {
		t.Fatalf("header changed:\n%+v\n%+v", h, h2)
	}
	recordsEqual(t, recs, recs2)
	for _, to := range allCodecs {
		re, err := Recompress(data, to)
		if err != nil {
			t.Fatalf("recompressing a decodable batch to %v: %v", to, err)
		}
		h3, recs3, err := Decode(re)
		if err != nil {
			t.Fatalf("decoding a recompressed batch (%v): %v", to, err)
		}
		sameHeaderFields(t, h, h3)
		recordsEqual(t, recs, recs3)
	}
}

// FuzzSplitBatches: never panics; the batches it returns tile a prefix of
// the input exactly and each has magic 2 and a self-consistent length.
func FuzzSplitBatches(f *testing.F) {
	a, _ := Build(testOpts(), CodecNone, sampleRecords())
	b, _ := Build(testOpts(), CodecZstd, sampleRecords())
	f.Add(append(append([]byte{}, a...), b...))
	f.Add(a[:len(a)-1])
	f.Fuzz(func(t *testing.T, data []byte) {
		batches, err := SplitBatches(data)
		if err != nil {
			if len(batches) != 0 {
				t.Fatal("batches returned with an error")
			}
			return
		}
		n := 0
		for _, b := range batches {
			if !bytes.Equal(b, data[n:n+len(b)]) || cap(b) != len(b) {
				t.Fatal("batch is not the next capacity-limited piece of the input")
			}
			length := int(int32(binary.BigEndian.Uint32(b[offLength:])))
			if b[offMagic] != 2 || length+12 != len(b) || len(b) < HeaderSize {
				t.Fatalf("split batch of %d bytes has magic %d, length %d", len(b), b[offMagic], length)
			}
			n += len(b)
		}
		if n != len(data) {
			t.Fatalf("batches cover %d of %d bytes", n, len(data))
		}
	})
}

// TestGenerateFuzzCorpus rewrites the seed corpora under testdata/fuzz with
// real batches: franz-go's producer output for every codec (raw snappy
// blocks among them) fetched back from kfake, and Build's (xerial snappy).
// Run with -gen-corpus.
func TestGenerateFuzzCorpus(t *testing.T) {
	if !*genCorpus {
		t.Skip("pass -gen-corpus to rewrite testdata/fuzz")
	}
	var topics []string
	for _, c := range allCodecs {
		topics = append(topics, "corpus-"+c.String())
	}
	cluster, _, ids := startCluster(t, topics...)
	write := func(target, name string, data []byte) {
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", data)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range allCodecs {
		topic := "corpus-" + c.String()
		cl, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.ProducerBatchCompression(kgoCodecs[c]))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		for round := range 2 { // two batches, for SplitBatches
			var krs []*kgo.Record
			for i, r := range interopRecords(6) {
				krs = append(krs, &kgo.Record{Topic: topic, Key: r.Key, Value: r.Value,
					Headers:   []kgo.RecordHeader{{Key: "round", Value: []byte{byte(round)}}},
					Timestamp: time.UnixMilli(1_700_000_000_000 + int64(i))})
			}
			if err := cl.ProduceSync(ctx, krs...).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		blob := fetchRaw(ctx, t, cl, topic, ids[topic])
		cancel()
		cl.Close()
		batches, err := SplitBatches(blob)
		if err != nil || len(batches) != 2 {
			t.Fatalf("%v: %d batches, %v", c, len(batches), err)
		}
		write("FuzzDecode", "franz-go-"+c.String(), batches[0])
		write("FuzzSplitBatches", "franz-go-"+c.String(), blob)
		built, err := Build(testOpts(), c, sampleRecords())
		if err != nil {
			t.Fatal(err)
		}
		write("FuzzDecode", "build-"+c.String(), built)
	}
}
