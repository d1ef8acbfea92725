package records

import (
	"math/rand/v2"
	"testing"
)

// benchBatch is a 1 MiB batch of 1 KiB records whose values compress about
// as well as JSON-ish text (a small alphabet, fixed seed).
func benchRecords() []Record {
	rng := rand.New(rand.NewPCG(1, 2))
	const alphabet = "abcdefghij {}\":,0123"
	recs := make([]Record, 1024)
	for i := range recs {
		v := make([]byte, 1000)
		for j := range v {
			v[j] = alphabet[rng.IntN(len(alphabet))]
		}
		recs[i] = Record{OffsetDelta: int32(i), TimestampDelta: int64(i), Key: []byte("key-0000"), Value: v}
	}
	return recs
}

// uncompressedSize is the uncompressed batch size, so that MB/s compares
// codecs on the same work (about 1 MiB here).
func uncompressedSize(recs []Record) int64 {
	b, _ := Build(DefaultBuildOptions(), CodecNone, recs)
	return int64(len(b))
}

func BenchmarkValidate(b *testing.B) {
	recs := benchRecords()
	for _, c := range allCodecs {
		batch, err := Build(DefaultBuildOptions(), c, recs)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(c.String(), func(b *testing.B) {
			b.SetBytes(uncompressedSize(recs))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Validate(batch, 8<<20); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkRecompress(b *testing.B) {
	recs := benchRecords()
	for _, from := range []Codec{CodecNone, CodecLZ4, CodecZstd} {
		src, err := Build(DefaultBuildOptions(), from, recs)
		if err != nil {
			b.Fatal(err)
		}
		for _, to := range allCodecs {
			if to == from {
				continue
			}
			b.Run(from.String()+"->"+to.String(), func(b *testing.B) {
				b.SetBytes(uncompressedSize(recs))
				b.ReportAllocs()
				for b.Loop() {
					if _, err := Recompress(src, to); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	recs := benchRecords()
	for _, c := range []Codec{CodecNone, CodecZstd} {
		batch, _ := Build(DefaultBuildOptions(), c, recs)
		b.Run(c.String(), func(b *testing.B) {
			b.SetBytes(uncompressedSize(recs))
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := Decode(batch); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
