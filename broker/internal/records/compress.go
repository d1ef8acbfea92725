package records

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// DefaultMaxDecompressedBytes bounds the output of Decompress, Decode and
// Recompress, which take no explicit limit. It is far above any batch a
// well-behaved producer sends (Kafka's message.max.bytes defaults to 1 MiB of
// compressed data) and low enough that a hostile 1 MiB zstd bomb cannot make
// the broker allocate gigabytes.
const DefaultMaxDecompressedBytes = 64 << 20

// ParseCodec maps a Kafka compression name to a Codec. Both "none" (the
// producer and broker spelling) and "uncompressed" (the topic config value)
// mean CodecNone. Kafka's topic value "producer" (keep whatever the producer
// sent) is not a codec and is left to the config layer; it returns
// ErrUnknownCodec like any other name. Names are case-sensitive, as in Kafka.
func ParseCodec(name string) (Codec, error) {
	switch name {
	case "none", "uncompressed":
		return CodecNone, nil
	case "gzip":
		return CodecGzip, nil
	case "snappy":
		return CodecSnappy, nil
	case "lz4":
		return CodecLZ4, nil
	case "zstd":
		return CodecZstd, nil
	}
	return CodecNone, fmt.Errorf("%w: %q", ErrUnknownCodec, name)
}

// valid reports whether c is one of the five codecs Kafka defines.
func (c Codec) valid() bool { return c >= CodecNone && c <= CodecZstd }

// Compress appends src, compressed with c, to dst and returns the extended
// slice. The output is what Kafka's Java clients write and read:
//   - gzip: one gzip member.
//   - snappy: xerial framing (magic, version 1, compatible version 1, then
//     32 KiB chunks each behind a big-endian length). Java's SnappyInputStream
//     and franz-go both read it; raw blocks are only read, never written.
//   - lz4: one LZ4 frame with 64 KiB independent blocks and a content
//     checksum (Kafka's block size; the decoder's buffer stays small).
//   - zstd: one zstd frame.
func Compress(c Codec, dst, src []byte) ([]byte, error) {
	switch c {
	case CodecNone:
		return append(dst, src...), nil
	case CodecGzip:
		return compressGzip(dst, src)
	case CodecSnappy:
		return appendXerial(dst, src), nil
	case CodecLZ4:
		return compressLZ4(dst, src)
	case CodecZstd:
		enc := zstdEncoders.Get().(*zstdEncoder)
		defer zstdEncoders.Put(enc)
		return enc.inner.EncodeAll(src, dst), nil
	}
	return dst, fmt.Errorf("%w: %v", ErrUnknownCodec, c)
}

// Decompress decompresses src, compressed with c, into a new slice, failing
// with an ErrCorrupt-wrapped error on a broken stream and also
// ErrDecompressLimit when the output would pass DefaultMaxDecompressedBytes.
// For CodecNone it returns src itself.
func Decompress(c Codec, src []byte) ([]byte, error) {
	return DecompressMax(c, src, DefaultMaxDecompressedBytes)
}

// DecompressMax is Decompress with an explicit output limit in bytes.
func DecompressMax(c Codec, src []byte, maxBytes int) ([]byte, error) {
	if c == CodecNone {
		if len(src) > maxBytes {
			return nil, fmt.Errorf("%w: %w: %d bytes > %d", ErrCorrupt, ErrDecompressLimit, len(src), maxBytes)
		}
		return src, nil
	}
	return decompressAppend(c, nil, src, maxBytes)
}

// decompressAppend appends the decompressed src to dst (reusing its spare
// capacity), allowing at most maxBytes of output.
func decompressAppend(c Codec, dst, src []byte, maxBytes int) ([]byte, error) {
	var (
		out []byte
		err error
	)
	switch c {
	case CodecNone:
		if len(src) > maxBytes {
			err = ErrDecompressLimit
		} else {
			out = append(dst, src...)
		}
	case CodecGzip:
		out, err = decompressGzip(dst, src, maxBytes)
	case CodecSnappy:
		out, err = decompressSnappy(dst, src, maxBytes)
	case CodecLZ4:
		out, err = decompressLZ4(dst, src, maxBytes)
	case CodecZstd:
		out, err = decompressZstd(dst, src, maxBytes)
	default:
		return nil, corruptf("unknown compression codec %d", c)
	}
	if err != nil {
		if errors.Is(err, ErrDecompressLimit) {
			return nil, fmt.Errorf("%w: %v: %w (limit %d bytes)", ErrCorrupt, c, ErrDecompressLimit, maxBytes)
		}
		return nil, corruptf("%v: %v", c, err)
	}
	return out, nil
}

// readLimited appends everything r yields to dst, failing with
// ErrDecompressLimit once more than maxBytes were read. sizeHint guesses the
// final size so that dst grows once in the common case.
func readLimited(dst []byte, r io.Reader, maxBytes, sizeHint int) ([]byte, error) {
	start := len(dst)
	dst = grow(dst, min(sizeHint, maxBytes)+1)
	for stalls := 0; ; {
		if len(dst) == cap(dst) {
			if len(dst)-start > maxBytes {
				return nil, ErrDecompressLimit
			}
			dst = append(dst, 0)[:len(dst)] // let append pick the growth
		}
		n, err := r.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+n]
		if len(dst)-start > maxBytes {
			return nil, ErrDecompressLimit
		}
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			return nil, err
		}
		// A decoder that keeps returning nothing would spin forever.
		if n > 0 {
			stalls = 0
		} else if stalls++; stalls > 100 {
			return nil, io.ErrNoProgress
		}
	}
}

// --- gzip ---

var (
	gzipWriters = sync.Pool{New: func() any { return gzip.NewWriter(nil) }}
	gzipReaders = sync.Pool{New: func() any { return new(gzipReader) }}
)

// gzipReader pools the bytes.Reader with the gzip reader so a decompress
// allocates neither.
type gzipReader struct {
	src   bytes.Reader
	inner gzip.Reader
}

func compressGzip(dst, src []byte) ([]byte, error) {
	buf := bytes.NewBuffer(dst)
	w := gzipWriters.Get().(*gzip.Writer)
	defer gzipWriters.Put(w)
	w.Reset(buf)
	if _, err := w.Write(src); err != nil {
		return dst, err
	}
	if err := w.Close(); err != nil {
		return dst, err
	}
	w.Reset(nil) // drop the reference to buf before pooling
	return buf.Bytes(), nil
}

func decompressGzip(dst, src []byte, maxBytes int) ([]byte, error) {
	r := gzipReaders.Get().(*gzipReader)
	defer gzipReaders.Put(r)
	r.src.Reset(src)
	defer r.src.Reset(nil)
	if err := r.inner.Reset(&r.src); err != nil {
		return nil, err
	}
	return readLimited(dst, &r.inner, maxBytes, 4*len(src))
}

// --- lz4 ---

var (
	lz4Writers = sync.Pool{New: func() any {
		w := lz4.NewWriter(nil)
		// Options are valid constants; Apply cannot fail for them.
		_ = w.Apply(lz4.BlockSizeOption(lz4.Block64Kb), lz4.ChecksumOption(true))
		return w
	}}
	lz4Readers = sync.Pool{New: func() any {
		r := &lz4Reader{}
		r.inner = lz4.NewReader(&r.src)
		return r
	}}
)

type lz4Reader struct {
	src   bytes.Reader
	inner *lz4.Reader
}

func compressLZ4(dst, src []byte) ([]byte, error) {
	buf := bytes.NewBuffer(dst)
	w := lz4Writers.Get().(*lz4.Writer)
	defer lz4Writers.Put(w)
	w.Reset(buf)
	if _, err := w.Write(src); err != nil {
		return dst, err
	}
	if err := w.Close(); err != nil {
		return dst, err
	}
	w.Reset(nil)
	return buf.Bytes(), nil
}

func decompressLZ4(dst, src []byte, maxBytes int) ([]byte, error) {
	r := lz4Readers.Get().(*lz4Reader)
	defer lz4Readers.Put(r)
	r.src.Reset(src)
	defer r.src.Reset(nil)
	r.inner.Reset(&r.src)
	return readLimited(dst, r.inner, maxBytes, 4*len(src))
}

// --- snappy ---

// xerialMagic opens a snappy-java (xerial) framed stream.
var xerialMagic = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

const (
	xerialHeaderSize = 16 // magic, version int32, compatible version int32
	xerialChunkBytes = 32 << 10
)

// appendXerial writes the framing that Java's SnappyOutputStream writes:
// version 1, compatible version 1, then independent raw snappy chunks.
func appendXerial(dst, src []byte) []byte {
	dst = append(dst, xerialMagic...)
	dst = binary.BigEndian.AppendUint32(dst, 1)
	dst = binary.BigEndian.AppendUint32(dst, 1)
	need := 0
	for rest := len(src); rest > 0; rest -= xerialChunkBytes {
		need += 4 + s2.MaxEncodedLen(min(rest, xerialChunkBytes))
	}
	dst = grow(dst, need)
	for len(src) > 0 {
		n := min(len(src), xerialChunkBytes)
		at := len(dst)
		dst = grow(dst, 4+s2.MaxEncodedLen(n))
		block := s2.EncodeSnappy(dst[at+4:cap(dst)], src[:n])
		binary.BigEndian.PutUint32(dst[at:at+4], uint32(len(block)))
		dst = dst[:at+4+len(block)]
		src = src[n:]
	}
	return dst
}

// decompressSnappy reads xerial framing (Java clients, franz-go's streaming
// producer) and raw snappy blocks (franz-go's one-shot producer, librdkafka
// without framing). Every decoded length is checked against maxBytes before
// anything is allocated.
func decompressSnappy(dst, src []byte, maxBytes int) ([]byte, error) {
	if len(src) < xerialHeaderSize || !bytes.Equal(src[:len(xerialMagic)], xerialMagic) {
		n, err := s2.DecodedLen(src)
		if err != nil {
			return nil, err
		}
		if n > maxBytes {
			return nil, ErrDecompressLimit
		}
		at := len(dst)
		dst = grow(dst, n)
		if _, err := s2.Decode(dst[at:at+n], src); err != nil {
			return nil, err
		}
		return dst[:at+n], nil
	}
	// First pass: walk the chunk headers and bound the total.
	total := 0
	for rest := src[xerialHeaderSize:]; len(rest) > 0; {
		if len(rest) < 4 {
			return nil, errors.New("xerial: truncated chunk length")
		}
		size := binary.BigEndian.Uint32(rest)
		rest = rest[4:]
		if uint64(size) > uint64(len(rest)) {
			return nil, errors.New("xerial: chunk longer than the data")
		}
		n, err := s2.DecodedLen(rest[:size])
		if err != nil {
			return nil, err
		}
		if total += n; total > maxBytes {
			return nil, ErrDecompressLimit
		}
		rest = rest[size:]
	}
	at := len(dst)
	dst = grow(dst, total)[:at]
	for rest := src[xerialHeaderSize:]; len(rest) > 0; {
		size := binary.BigEndian.Uint32(rest)
		chunk := rest[4 : 4+size]
		rest = rest[4+size:]
		n, _ := s2.DecodedLen(chunk) // checked in the first pass
		if _, err := s2.Decode(dst[len(dst):len(dst)+n], chunk); err != nil {
			return nil, err
		}
		dst = dst[:len(dst)+n]
	}
	return dst, nil
}

// grow returns dst with room for n more bytes, its length unchanged.
func grow(dst []byte, n int) []byte { return slices.Grow(dst, n) }

// --- zstd ---

// Encoders and decoders are expensive to build, so they are pooled. With
// concurrency 1 neither starts goroutines; a cleanup closes one the pool
// dropped.
var (
	zstdEncoders = sync.Pool{New: func() any {
		inner, err := zstd.NewWriter(nil,
			zstd.WithEncoderConcurrency(1),
			zstd.WithWindowSize(1<<20), // decoders (Java's too) hold one window
			zstd.WithZeroFrames(true),  // an empty payload is still a frame
		)
		if err != nil {
			panic(fmt.Sprintf("records: constant zstd options rejected: %v", err))
		}
		e := &zstdEncoder{inner: inner}
		runtime.AddCleanup(e, func(inner *zstd.Encoder) { inner.Close() }, inner)
		return e
	}}
	zstdDecoders = sync.Pool{New: func() any {
		inner, err := zstd.NewReader(nil,
			zstd.WithDecoderConcurrency(1),
			zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxMemory(DefaultMaxDecompressedBytes),
		)
		if err != nil {
			panic(fmt.Sprintf("records: constant zstd options rejected: %v", err))
		}
		d := &zstdDecoder{inner: inner, maxBytes: DefaultMaxDecompressedBytes}
		runtime.AddCleanup(d, func(inner *zstd.Decoder) { inner.Close() }, inner)
		return d
	}}
)

type zstdEncoder struct{ inner *zstd.Encoder }

// zstdDecoder remembers the output limit it is configured with, so that the
// (allocating) option reset only happens when a caller's limit differs.
type zstdDecoder struct {
	inner    *zstd.Decoder
	maxBytes int
}

// zstdFloorBytes is the smallest limit the zstd decoder is configured with.
// The decoder also refuses frames whose declared window exceeds its limit,
// and a streaming Java producer declares a window of up to a few MiB even for
// a tiny batch; so a small caller limit is enforced on the output afterwards
// instead, and a hostile frame can cost at most this much memory.
const zstdFloorBytes = 8 << 20

// decompressZstd relies on the decoder's max-memory bound, which rejects a
// frame declaring a larger content size before allocating and stops a frame
// that outgrows it while decoding.
func decompressZstd(dst, src []byte, maxBytes int) ([]byte, error) {
	limit := max(maxBytes, zstdFloorBytes)
	d := zstdDecoders.Get().(*zstdDecoder)
	defer zstdDecoders.Put(d)
	if d.maxBytes != limit {
		if err := d.inner.ResetWithOptions(nil, zstd.WithDecoderMaxMemory(uint64(limit))); err != nil {
			return nil, err
		}
		d.maxBytes = limit
	}
	at := len(dst)
	out, err := d.inner.DecodeAll(src, dst)
	if errors.Is(err, zstd.ErrDecoderSizeExceeded) || errors.Is(err, zstd.ErrWindowSizeExceeded) {
		return nil, ErrDecompressLimit
	}
	if err != nil {
		return nil, err
	}
	if len(out)-at > maxBytes {
		return nil, ErrDecompressLimit
	}
	return out, nil
}
