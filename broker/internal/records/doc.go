// Package records reads, checks and writes Kafka v2 record batches (magic 2),
// the only message format Kafka 4 accepts.
//
// Contract:
//   - header.go: the fixed 61-byte batch header, CRC check and in-place
//     rewrites (base offset, leader epoch, append time).
//   - compress.go: the five Kafka codecs, byte-compatible with the Java
//     client and franz-go in both directions. Every decompression is bounded
//     (DefaultMaxDecompressedBytes or a caller limit) so a small hostile
//     batch cannot make the broker allocate without limit.
//   - record.go, batch.go: record encoding, Decode, Build, Recompress,
//     SplitBatches.
//   - validate.go: Validate/ValidateBatch, Kafka's LogValidator rules for
//     batches produced by clients.
//
// Bad input never panics: every function taking bytes from the network
// returns an error wrapping one of the sentinels in errors.go and header.go
// (FuzzDecode and FuzzSplitBatches hold this). Decoded keys, values and
// header values alias the input or the decompression buffer, so decoding does
// not copy record data.
//
// Goroutines: none are started. All functions are safe for concurrent use;
// the codec encoders, decoders and scratch buffers they share are pooled.
package records
