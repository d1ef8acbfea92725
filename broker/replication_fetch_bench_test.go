package broker

import (
	"bytes"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/highwater-io/highwater/broker/internal/records"
	"github.com/highwater-io/highwater/broker/internal/replica"
)

// benchFetchPartition is one partition's fetch answer as a follower gets
// it under load: three batches of 320 records of 1 KiB.
func benchFetchPartition(b *testing.B) *kmsg.FetchResponseTopicPartition {
	b.Helper()
	var data []byte
	for i := range 3 {
		recs := make([]records.Record, 320)
		for j := range recs {
			recs[j] = records.Record{OffsetDelta: int32(j), Value: bytes.Repeat([]byte{byte('a' + j%26)}, 1024)}
		}
		opts := records.DefaultBuildOptions()
		opts.BaseOffset, opts.PartitionLeaderEpoch = int64(i*320), 1
		batch, err := records.Build(opts, records.CodecNone, recs)
		if err != nil {
			b.Fatal(err)
		}
		data = append(data, batch...)
	}
	p := kmsg.NewFetchResponseTopicPartition()
	p.HighWatermark, p.LogStartOffset, p.RecordBatches = 960, 0, data
	return &p
}

// BenchmarkFillFetchResponse is the follower's per-partition work on a
// fetch answer before the log write: framing, CRC, and the batches the
// write takes.
func BenchmarkFillFetchResponse(b *testing.B) {
	p := benchFetchPartition(b)
	b.SetBytes(int64(len(p.RecordBatches)))
	b.ReportAllocs()
	for b.Loop() {
		var m replica.FetchResponse
		if fetched := fillFetchResponse(&m, p); m.Err != nil || len(fetched) != 3 {
			b.Fatalf("err %v, %d batches", m.Err, len(fetched))
		}
	}
}
