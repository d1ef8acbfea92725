package broker

// The follower side of the replication driver: one fetcher goroutine per
// leader broker, sending Fetch with this node's replica id for every
// partition whose state machine asked for one, and the leader-epoch
// checkpoint file.

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/highwater-io/highwater/broker/internal/faults"
	"github.com/highwater-io/highwater/broker/internal/metaserver"
	"github.com/highwater-io/highwater/broker/internal/records"
	"github.com/highwater-io/highwater/broker/internal/replica"
	"github.com/highwater-io/highwater/internal/vfs"
)

// pendingFetch is one partition's fetch taken by a fetcher.
type pendingFetch struct {
	rp  *replPart
	req replica.FetchRequest
}

// wakeFetcher tells the fetcher of leader there is a fetch to send,
// starting it on first use.
func (r *replicator) wakeFetcher(leader int32) {
	r.mu.Lock()
	ch, ok := r.fetchers[leader]
	if !ok {
		ch = make(chan struct{}, 1)
		r.fetchers[leader] = ch
	}
	r.mu.Unlock()
	if !ok {
		r.goTracked(func() { r.fetchLoop(leader, ch) })
	}
	select {
	case ch <- struct{}{}:
	default:
	}
}

// takeFetches removes and returns the fetches waiting for leader.
func (r *replicator) takeFetches(leader int32) []pendingFetch {
	var out []pendingFetch
	for _, rp := range r.snapshot() {
		rp.mu.Lock()
		if rp.fetch != nil && rp.fetch.Leader == leader && !rp.dead {
			out = append(out, pendingFetch{rp, *rp.fetch})
			rp.fetch = nil
		}
		rp.mu.Unlock()
	}
	return out
}

// leaderAddr is leader's PLAINTEXT endpoint in the image, "" if unknown.
func (r *replicator) leaderAddr(leader int32) string {
	b, ok := r.c.srv.State().Image.Broker(leader)
	if !ok {
		return ""
	}
	for _, e := range b.Endpoints {
		if e.Name == "PLAINTEXT" {
			return fmt.Sprintf("%s:%d", e.Host, e.Port)
		}
	}
	return ""
}

func (r *replicator) fetchLoop(leader int32, wake chan struct{}) {
	var fc *fetchConn
	var addr string
	defer func() {
		if fc != nil {
			fc.Close()
		}
	}()
	clientID := fmt.Sprintf("highwater-replica-%d", r.c.nodeID)
	for {
		fetches := r.takeFetches(leader)
		if len(fetches) == 0 {
			select {
			case <-r.ctx.Done():
				return
			case <-wake:
			}
			continue
		}
		if d := faults.ReplicaFetchDelay(); d > 0 { // fault seam (faults.go): a slow replication link
			select {
			case <-r.ctx.Done():
				return
			case <-time.After(d):
			}
		}
		if a := r.leaderAddr(leader); a != addr {
			if fc != nil {
				fc.Close()
				fc = nil
			}
			addr = a
		}
		var resp *kmsg.FetchResponse
		err := fmt.Errorf("leader %d has no endpoint", leader)
		if addr != "" && fc == nil {
			if fc, err = dialFetchConn(r.ctx, addr, clientID); err != nil {
				r.log.Debug("replica fetcher connection", "leader", leader, "err", err)
			}
		}
		if fc != nil {
			if resp, err = r.sendFetch(fc, fetches); err != nil && !isReplicaErr(err) {
				fc.Close() // the stream's state is unknown: dial again
				fc = nil
			}
		}
		if err != nil {
			r.log.Debug("replica fetch", "leader", leader, "err", err)
		}
		r.handleFetch(fetches, resp, err) // before the next sendFetch: resp aliases fc's buffer
		if err != nil {
			select { // the state machines back off too; this keeps a dead leader from spinning
			case <-r.ctx.Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
}

func (r *replicator) sendFetch(fc *fetchConn, fetches []pendingFetch) (*kmsg.FetchResponse, error) {
	req := kmsg.NewPtrFetchRequest()
	req.Version = fc.fetchVersion
	req.ReplicaID, req.ReplicaState.ID = r.c.nodeID, r.c.nodeID
	if lc := r.lifecycle(); lc != nil {
		req.ReplicaState.Epoch = lc.Status().Epoch // KIP-903
	}
	req.MaxWaitMillis, req.MinBytes, req.MaxBytes = int32(replicaFetchMaxWait.Milliseconds()), 1, 16<<20
	req.SessionID, req.SessionEpoch = 0, -1
	for _, f := range fetches {
		t := kmsg.NewFetchRequestTopic()
		t.Topic, t.TopicID = f.rp.tp.Topic.Name, f.rp.key.topic
		p := kmsg.NewFetchRequestTopicPartition()
		p.Partition, p.CurrentLeaderEpoch, p.FetchOffset = f.rp.key.index, f.req.CurrentLeaderEpoch, f.req.FetchOffset
		p.LastFetchedEpoch, p.LogStartOffset, p.PartitionMaxBytes = f.req.LastFetchedEpoch, f.req.LogStartOffset, replicaFetchPartitionBytes
		t.Partitions = append(t.Partitions, p)
		req.Topics = append(req.Topics, t)
	}
	resp, err := fc.roundTrip(req)
	if err != nil {
		return nil, err
	}
	fr := resp.(*kmsg.FetchResponse)
	if fr.ErrorCode != 0 {
		return nil, replica.FromCode(fr.ErrorCode)
	}
	return fr, nil
}

// fetchConn is a follower's connection to one leader, used by that
// leader's fetcher goroutine alone, one request at a time (a kgo client
// did this before). Two things make it cheaper per replicated byte: the
// response is read into a buffer reused from fetch to fetch, where kgo
// allocated (and zeroed) a fresh one per response, up to 16 MiB, garbage
// right after; and the round trip runs on the fetcher goroutine instead of
// handing off to a writer and a reader goroutine. A response decoded by
// roundTrip aliases that buffer: it is valid until the next roundTrip.
// Any error leaves the stream in an unknown state: the caller closes the
// connection and dials again.
type fetchConn struct {
	c            net.Conn
	stop         func() bool // unregisters the close on context end
	formatter    *kmsg.RequestFormatter
	corrID       int32
	fetchVersion int16 // the highest Fetch version both sides speak
	out, in      []byte
}

const (
	// fetchResponseMaxBytes refuses a response size no leader sends
	// (MaxBytes is 16 MiB; one oversized batch may exceed it, KIP-74).
	fetchResponseMaxBytes = 256 << 20
	// fetchBufferKeepBytes bounds the buffer a connection keeps between
	// fetches.
	fetchBufferKeepBytes = 32 << 20
)

// errCorrelation: a response that does not answer the request just sent.
var errCorrelation = errors.New("replica fetch: correlation id mismatch")

// dialFetchConn connects to addr and agrees on the Fetch version
// (ApiVersions v0, which every broker answers). The connection closes when
// ctx ends, failing a round trip in flight.
func dialFetchConn(ctx context.Context, addr, clientID string) (*fetchConn, error) {
	d := net.Dialer{Timeout: replicaRequestTimeout}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	fc := &fetchConn{c: c, formatter: kmsg.NewRequestFormatter(kmsg.FormatterClientID(clientID))}
	fc.stop = context.AfterFunc(ctx, func() { c.Close() })
	av := kmsg.NewPtrApiVersionsRequest()
	av.Version = 0
	resp, err := fc.roundTrip(av)
	if err != nil {
		fc.Close()
		return nil, err
	}
	avr := resp.(*kmsg.ApiVersionsResponse)
	if avr.ErrorCode != 0 {
		fc.Close()
		return nil, fmt.Errorf("ApiVersions: %w", replica.FromCode(avr.ErrorCode))
	}
	fc.fetchVersion = -1
	for _, k := range avr.ApiKeys {
		if k.ApiKey == kmsg.Fetch.Int16() {
			if v := min(k.MaxVersion, (*kmsg.FetchRequest)(nil).MaxVersion()); v >= k.MinVersion {
				fc.fetchVersion = v
			}
		}
	}
	if fc.fetchVersion < 0 {
		fc.Close()
		return nil, fmt.Errorf("leader %s speaks no Fetch version this node does", addr)
	}
	return fc, nil
}

// Close closes the connection.
func (fc *fetchConn) Close() {
	fc.stop()
	fc.c.Close()
}

// roundTrip sends req and reads and decodes its response, which aliases
// fc.in until the next roundTrip.
func (fc *fetchConn) roundTrip(req kmsg.Request) (kmsg.Response, error) {
	if err := fc.c.SetDeadline(time.Now().Add(replicaRequestTimeout)); err != nil {
		return nil, err
	}
	fc.corrID++
	fc.out = fc.formatter.AppendRequest(fc.out[:0], req, fc.corrID)
	if _, err := fc.c.Write(fc.out); err != nil {
		return nil, err
	}
	var size [4]byte
	if _, err := io.ReadFull(fc.c, size[:]); err != nil {
		return nil, err
	}
	n := int32(binary.BigEndian.Uint32(size[:]))
	if n < 4 || n > fetchResponseMaxBytes {
		return nil, fmt.Errorf("replica fetch: response of %d bytes", n)
	}
	buf := fc.in
	if cap(buf) < int(n) {
		buf = make([]byte, n)
		if n <= fetchBufferKeepBytes {
			fc.in = buf
		}
	}
	buf = buf[:n]
	if _, err := io.ReadFull(fc.c, buf); err != nil {
		return nil, err
	}
	if got := int32(binary.BigEndian.Uint32(buf)); got != fc.corrID {
		return nil, fmt.Errorf("%w: sent %d, got %d", errCorrelation, fc.corrID, got)
	}
	rd := kbin.Reader{Src: buf[4:]}
	resp := req.ResponseKind()
	if resp.IsFlexible() && req.Key() != kmsg.ApiVersions.Int16() { // ApiVersions answers with header v0
		kmsg.SkipTags(&rd)
		if !rd.Ok() {
			return nil, fmt.Errorf("replica fetch: %w", kbin.ErrNotEnoughData)
		}
	}
	if err := resp.ReadFrom(rd.Src); err != nil {
		return nil, fmt.Errorf("replica fetch: decoding %s: %w", kmsg.NameForKey(req.Key()), err)
	}
	return resp, nil
}

// handleFetch feeds each partition's answer (or the request's failure) to
// its state machine.
func (r *replicator) handleFetch(fetches []pendingFetch, resp *kmsg.FetchResponse, reqErr error) {
	type key struct {
		id    [16]byte
		name  string
		index int32
	}
	answers := map[key]*kmsg.FetchResponseTopicPartition{}
	if resp != nil {
		for ti := range resp.Topics {
			t := &resp.Topics[ti]
			for pi := range t.Partitions {
				p := &t.Partitions[pi]
				answers[key{t.TopicID, "", p.Partition}] = p
				answers[key{[16]byte{}, t.Topic, p.Partition}] = p
			}
		}
	}
	nowMs := r.nowMs()
	for _, f := range fetches {
		m := replica.FetchResponse{FetchID: f.req.ID, NowMs: nowMs, Err: reqErr}
		var fetched map[int64][]byte
		if reqErr == nil {
			p := answers[key{f.rp.key.topic, "", f.rp.key.index}]
			if p == nil {
				p = answers[key{[16]byte{}, f.rp.tp.Topic.Name, f.rp.key.index}]
			}
			if p == nil {
				m.Err = replica.ErrUnknownTopicOrPartition
			} else {
				fetched = fillFetchResponse(&m, p)
			}
		}
		if m.Err != nil && !isReplicaErr(m.Err) {
			m.Err = replica.ErrRequestTimedOut // retriable: back off and fetch again
		}
		f.rp.mu.Lock()
		if !f.rp.dead {
			if _, err := r.stepWith(f.rp, m, fetched); err != nil {
				r.log.Warn("replica fetch answer", "partition", f.rp.sm.String(), "err", err)
			}
		}
		f.rp.mu.Unlock()
	}
}

func isReplicaErr(err error) bool { return replica.Code(err) != -1 }

// fillFetchResponse copies one partition's answer into m and returns its
// raw batches by base offset. The batches alias p.RecordBatches instead of
// being copied (a follower fetch carries up to replicaFetchPartitionBytes
// per partition; the copy, its zeroed allocation and its garbage cost about
// what the CRC check does). That is safe because nobody writes to those
// bytes and nobody keeps them past handleFetch: they lie in the fetchConn's
// buffer (kmsg's decoding slices it without copying), which only this
// fetcher uses and overwrites with the next response only after
// handleFetch returned (fetchLoop is sequential); the map dies
// with handleFetch, whose stepWith applies every WriteAppend the answer
// produces before it returns (a later Ready has no fetched batches and
// fails its append, as before); partlog's AppendReplica and the vfs files
// under it copy what they write and keep no reference.
func fillFetchResponse(m *replica.FetchResponse, p *kmsg.FetchResponseTopicPartition) map[int64][]byte {
	m.Err = replica.FromCode(p.ErrorCode)
	m.HighWatermark, m.LogStartOffset, m.LogEndOffset = p.HighWatermark, p.LogStartOffset, p.HighWatermark
	if p.DivergingEpoch.Epoch >= 0 && p.DivergingEpoch.EndOffset >= 0 {
		m.Diverging = &replica.EpochEndOffset{Epoch: p.DivergingEpoch.Epoch, EndOffset: p.DivergingEpoch.EndOffset}
	}
	if m.Err != nil || m.Diverging != nil || len(p.RecordBatches) == 0 {
		return nil
	}
	batches, err := records.SplitBatches(p.RecordBatches)
	if err != nil {
		m.Err = replica.ErrRequestTimedOut
		return nil
	}
	fetched := make(map[int64][]byte, len(batches))
	for _, b := range batches {
		h, err := records.CheckBatch(b)
		if err != nil {
			m.Err, m.Batches = replica.ErrRequestTimedOut, nil
			return nil
		}
		fetched[h.BaseOffset] = b // aliased, see above
		m.Batches = append(m.Batches, replica.Batch{BaseOffset: h.BaseOffset, LastOffset: h.LastOffset(), LeaderEpoch: h.PartitionLeaderEpoch})
	}
	return fetched
}

// loadEpochs reads dir's leader-epoch-checkpoint (Kafka's format: version
// 0, the entry count, then "epoch startOffset" lines), keeping the
// entries that fit a log ending at logEnd. A missing or unreadable file is
// an empty cache: followers rebuild it from the batches they fetch.
func loadEpochs(fsys vfs.FS, dir string, logEnd int64, log *slog.Logger) []replica.EpochEntry {
	f, err := fsys.OpenFile(filepath.Join(dir, epochCheckpointFile), os.O_RDONLY, 0)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []replica.EpochEntry
	sc := bufio.NewScanner(f)
	for line := 0; sc.Scan(); line++ {
		if line < 2 {
			continue // version, count
		}
		fields := strings.Fields(sc.Text())
		if len(fields) != 2 {
			log.Warn("leader-epoch-checkpoint: bad line", "dir", dir, "line", line)
			return nil
		}
		epoch, err1 := strconv.ParseInt(fields[0], 10, 32)
		start, err2 := strconv.ParseInt(fields[1], 10, 64)
		if err1 != nil || err2 != nil || epoch < 0 || start < 0 {
			log.Warn("leader-epoch-checkpoint: bad line", "dir", dir, "line", line)
			return nil
		}
		e := replica.EpochEntry{Epoch: int32(epoch), StartOffset: start}
		if e.StartOffset > logEnd {
			break // a truncated tail
		}
		if n := len(out); n > 0 && (e.Epoch <= out[n-1].Epoch || e.StartOffset < out[n-1].StartOffset) {
			log.Warn("leader-epoch-checkpoint: entries out of order", "dir", dir)
			return nil
		}
		out = append(out, e)
	}
	return out
}

func saveEpochs(fsys vfs.FS, dir string, epochs []replica.EpochEntry) error {
	var sb strings.Builder
	fmt.Fprintf(&sb, "0\n%d\n", len(epochs))
	for _, e := range epochs {
		fmt.Fprintf(&sb, "%d %d\n", e.Epoch, e.StartOffset)
	}
	return vfs.WriteFileAtomic(fsys, filepath.Join(dir, epochCheckpointFile), []byte(sb.String()), 0o644)
}

// loadHW reads dir's replication-offset-checkpoint ("0" then the high
// watermark); a missing or unreadable file is 0 (the replica relearns it
// from its leader). The caller clamps it to the log.
func loadHW(fsys vfs.FS, dir string, log *slog.Logger) int64 {
	f, err := fsys.OpenFile(filepath.Join(dir, hwCheckpointFile), os.O_RDONLY, 0)
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	var lines []string
	for sc.Scan() && len(lines) < 3 {
		lines = append(lines, strings.TrimSpace(sc.Text()))
	}
	if len(lines) != 2 || lines[0] != "0" {
		log.Warn("replication-offset-checkpoint: bad file", "dir", dir)
		return 0
	}
	hw, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || hw < 0 {
		log.Warn("replication-offset-checkpoint: bad offset", "dir", dir)
		return 0
	}
	return hw
}

func saveHW(fsys vfs.FS, dir string, hw int64) error {
	return vfs.WriteFileAtomic(fsys, filepath.Join(dir, hwCheckpointFile), fmt.Appendf(nil, "0\n%d\n", hw), 0o644)
}

// lifecycle is the node's registration lifecycle, nil before Run.
func (r *replicator) lifecycle() *metaserver.BrokerLifecycle {
	r.c.pidMu.Lock()
	defer r.c.pidMu.Unlock()
	return r.c.lc
}
