package broker

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"testing"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kgo"
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

// serveFetches answers ApiVersions and Fetch on ln with resp's partition
// (six copies, as six partitions), until ln closes.
func serveFetches(ln net.Listener, p *kmsg.FetchResponseTopicPartition) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			var size [4]byte
			var out []byte
			for {
				if _, err := io.ReadFull(c, size[:]); err != nil {
					return
				}
				frame := make([]byte, binary.BigEndian.Uint32(size[:]))
				if _, err := io.ReadFull(c, frame); err != nil {
					return
				}
				rd := kbin.Reader{Src: frame}
				key, version, corr := rd.Int16(), rd.Int16(), rd.Int32()
				req := kmsg.RequestForKey(key)
				req.SetVersion(version)
				resp := req.ResponseKind()
				switch r := resp.(type) {
				case *kmsg.ApiVersionsResponse:
					r.ApiKeys = []kmsg.ApiVersionsResponseApiKey{{ApiKey: kmsg.Fetch.Int16(), MinVersion: 4, MaxVersion: 18}, {ApiKey: kmsg.ApiVersions.Int16(), MaxVersion: 3}}
				case *kmsg.FetchResponse:
					t := kmsg.NewFetchResponseTopic()
					t.Topic = "bench"
					for i := range int32(6) {
						q := *p
						q.Partition = i
						t.Partitions = append(t.Partitions, q)
					}
					r.Topics = []kmsg.FetchResponseTopic{t}
				}
				out = binary.BigEndian.AppendUint32(out[:0], 0)
				out = binary.BigEndian.AppendUint32(out, uint32(corr))
				if resp.IsFlexible() && key != kmsg.ApiVersions.Int16() {
					out = append(out, 0)
				}
				out = resp.AppendTo(out)
				binary.BigEndian.PutUint32(out, uint32(len(out)-4))
				if _, err := c.Write(out); err != nil {
					return
				}
			}
		}()
	}
}

// BenchmarkFollowerFetchRoundTrip is one follower fetch of six partitions
// of ~1 MiB each over loopback: the request out, the response in and
// decoded, with kgo (what the fetcher used before) and with fetchConn.
func BenchmarkFollowerFetchRoundTrip(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go serveFetches(ln, benchFetchPartition(b))
	newReq := func() *kmsg.FetchRequest {
		req := kmsg.NewPtrFetchRequest()
		req.ReplicaID, req.MaxBytes = 2, 16<<20
		t := kmsg.NewFetchRequestTopic()
		t.Topic = "bench"
		for i := range int32(6) {
			p := kmsg.NewFetchRequestTopicPartition()
			p.Partition, p.PartitionMaxBytes = i, 1<<20
			t.Partitions = append(t.Partitions, p)
		}
		req.Topics = []kmsg.FetchRequestTopic{t}
		return req
	}
	check := func(resp kmsg.Response, err error) {
		if err != nil {
			b.Fatal(err)
		}
		if fr := resp.(*kmsg.FetchResponse); len(fr.Topics) != 1 || len(fr.Topics[0].Partitions) != 6 {
			b.Fatalf("bad response %+v", fr)
		}
	}
	b.Run("kgo", func(b *testing.B) {
		cl, err := kgo.NewClient(kgo.SeedBrokers(ln.Addr().String()))
		if err != nil {
			b.Fatal(err)
		}
		defer cl.Close()
		b.ReportAllocs()
		for b.Loop() {
			check(cl.SeedBrokers()[0].Request(context.Background(), newReq()))
		}
	})
	b.Run("fetchConn", func(b *testing.B) {
		fc, err := dialFetchConn(context.Background(), ln.Addr().String(), "bench")
		if err != nil {
			b.Fatal(err)
		}
		defer fc.Close()
		b.ReportAllocs()
		for b.Loop() {
			req := newReq()
			req.Version = fc.fetchVersion
			check(fc.roundTrip(req))
		}
	})
}
