package txn

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

type memStore struct {
	mu   sync.Mutex
	log  []KV
	fail int // fail the next n appends
}

func (s *memStore) Append(kvs []KV) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail > 0 {
		s.fail--
		return errors.New("disk full")
	}
	s.log = append(s.log, kvs...)
	return nil
}

// flakyMarkers drops whole requests, acknowledges one partition per
// request and answers retriable errors for the rest, and counts
// deliveries per partition (duplicates are fine: markers are idempotent
// per producer epoch on the partition side).
type flakyMarkers struct {
	mu        sync.Mutex
	calls     int
	delivered map[TopicPartition]int
}

func (m *flakyMarkers) WriteTxnMarkers(_ context.Context, req *kmsg.WriteTxnMarkersRequest) (*kmsg.WriteTxnMarkersResponse, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls++
	if m.calls%2 == 1 {
		return nil, errors.New("connection refused") // dropped
	}
	resp := req.ResponseKind().(*kmsg.WriteTxnMarkersResponse)
	acked := false
	for _, mk := range req.Markers {
		rm := kmsg.WriteTxnMarkersResponseMarker{ProducerID: mk.ProducerID}
		for _, t := range mk.Topics {
			rt := kmsg.WriteTxnMarkersResponseMarkerTopic{Topic: t.Topic}
			for _, p := range t.Partitions {
				code := kerr.NotLeaderForPartition.Code
				if !acked {
					acked, code = true, 0
					m.delivered[TopicPartition{t.Topic, p}]++
				}
				rt.Partitions = append(rt.Partitions, kmsg.WriteTxnMarkersResponseMarkerTopicPartition{Partition: p, ErrorCode: code})
			}
			rm.Topics = append(rm.Topics, rt)
		}
		resp.Markers = append(resp.Markers, rm)
	}
	return resp, nil
}

func newTestService(t *testing.T, store *memStore, markers Markers) *Service {
	t.Helper()
	var next int64
	svc, err := NewService(ServiceConfig{
		Coordinator:        Config{MaxTimeout: time.Minute, IDExpiration: time.Hour, NextProducerID: func() (int64, error) { next++; return next - 1, nil }},
		MarkerRetryBackoff: time.Millisecond,
		OffsetsPartition:   func(string) (int32, error) { return 7, nil },
	}, store, markers)
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

func waitState(t *testing.T, svc *Service, id string, want State) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if m, _ := svc.Describe(id); m.State == want {
			return
		}
		time.Sleep(time.Millisecond)
	}
	m, _ := svc.Describe(id)
	t.Fatalf("%s: state %v, want %v", id, m.State, want)
}

// EndTxn answers once PrepareCommit is durable; the Service then keeps
// re-sending markers through dropped requests and partial answers until
// every partition acknowledged, and only then writes CompleteCommit. A
// failed state write answers a retriable error and changes nothing.
func TestServiceMarkersRetriedUntilAcknowledged(t *testing.T) {
	store := &memStore{}
	markers := &flakyMarkers{delivered: map[TopicPartition]int{}}
	svc := newTestService(t, store, markers)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { svc.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	id := "t"
	init := kmsg.NewPtrInitProducerIDRequest()
	init.Version, init.TransactionalID, init.TransactionTimeoutMillis = 4, &id, 10000
	ir := svc.InitProducerID(ctx, init)
	if ir.ErrorCode != 0 {
		t.Fatalf("init: %v", kerr.ErrorForCode(ir.ErrorCode))
	}
	add := kmsg.NewPtrAddPartitionsToTxnRequest()
	add.Version, add.TransactionalID, add.ProducerID, add.ProducerEpoch = 3, id, ir.ProducerID, ir.ProducerEpoch
	add.Topics = []kmsg.AddPartitionsToTxnRequestTopic{{Topic: "a", Partitions: []int32{0, 1, 2}}, {Topic: "b", Partitions: []int32{0}}}
	if r := svc.AddPartitionsToTxn(ctx, add); r.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("add: %v", kerr.ErrorForCode(r.Topics[0].Partitions[0].ErrorCode))
	}
	offs := kmsg.NewPtrAddOffsetsToTxnRequest()
	offs.Version, offs.TransactionalID, offs.ProducerID, offs.ProducerEpoch, offs.Group = 3, id, ir.ProducerID, ir.ProducerEpoch, "g"
	if r := svc.AddOffsetsToTxn(ctx, offs); r.ErrorCode != 0 {
		t.Fatalf("add offsets: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	end := kmsg.NewPtrEndTxnRequest()
	end.Version, end.TransactionalID, end.ProducerID, end.ProducerEpoch, end.Commit = 3, id, ir.ProducerID, ir.ProducerEpoch, true
	store.mu.Lock()
	store.fail = 1
	store.mu.Unlock()
	if r := svc.EndTxn(ctx, end); r.ErrorCode != kerr.CoordinatorNotAvailable.Code {
		t.Fatalf("EndTxn with a failing store: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	if m, _ := svc.Describe(id); m.State != Ongoing {
		t.Fatalf("a failed write moved the state to %v", m.State)
	}
	if r := svc.EndTxn(ctx, end); r.ErrorCode != 0 {
		t.Fatalf("EndTxn: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	waitState(t, svc, id, CompleteCommit)
	markers.mu.Lock()
	defer markers.mu.Unlock()
	for _, tp := range []TopicPartition{{"a", 0}, {"a", 1}, {"a", 2}, {"b", 0}, {OffsetsTopic, 7}} {
		if markers.delivered[tp] != 1 {
			t.Errorf("%v acknowledged %d times, want once", tp, markers.delivered[tp])
		}
	}
	// The log replays to the same state.
	replayed := newTestService(t, &memStore{}, markers)
	store.mu.Lock()
	err := replayed.Load(store.log)
	store.mu.Unlock()
	if m, _ := replayed.Describe(id); err != nil || m.State != CompleteCommit {
		t.Fatalf("replay: %v %v", err, m.State)
	}
}

// A coordinator that loads a PrepareAbort resumes its markers as soon as
// it runs; a partition answering that the coordinator is fenced stops it.
func TestServiceResumesPreparedOnLoadAndStopsWhenFenced(t *testing.T) {
	m := Metadata{TransactionalID: "x", ProducerID: 3, PrevProducerID: -1, ProducerEpoch: 2, TimeoutMs: 1000,
		State: PrepareAbort, StartMs: 1, LastUpdateMs: 2, Partitions: map[TopicPartition]struct{}{{"a", 0}: {}}}
	markers := &flakyMarkers{delivered: map[TopicPartition]int{}}
	svc := newTestService(t, &memStore{}, markers)
	if err := svc.Load([]KV{m.Record()}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { svc.Run(ctx); close(done) }()
	waitState(t, svc, "x", CompleteAbort)
	cancel()
	<-done

	fenced := fencedMarkers{}
	svc = newTestService(t, &memStore{}, fenced)
	if err := svc.Load([]KV{m.Record()}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel = context.WithCancel(context.Background())
	done = make(chan struct{})
	go func() { svc.Run(ctx); close(done) }()
	time.Sleep(50 * time.Millisecond)
	if got, _ := svc.Describe("x"); got.State != PrepareAbort {
		t.Errorf("a fenced coordinator completed the transaction: %v", got.State)
	}
	cancel()
	<-done
}

type fencedMarkers struct{}

func (fencedMarkers) WriteTxnMarkers(_ context.Context, req *kmsg.WriteTxnMarkersRequest) (*kmsg.WriteTxnMarkersResponse, error) {
	resp := req.ResponseKind().(*kmsg.WriteTxnMarkersResponse)
	for _, mk := range req.Markers {
		rm := kmsg.WriteTxnMarkersResponseMarker{ProducerID: mk.ProducerID}
		for _, t := range mk.Topics {
			rt := kmsg.WriteTxnMarkersResponseMarkerTopic{Topic: t.Topic}
			for _, p := range t.Partitions {
				rt.Partitions = append(rt.Partitions, kmsg.WriteTxnMarkersResponseMarkerTopicPartition{Partition: p, ErrorCode: kerr.TransactionCoordinatorFenced.Code})
			}
			rm.Topics = append(rm.Topics, rt)
		}
		resp.Markers = append(resp.Markers, rm)
	}
	return resp, nil
}

// ListTransactions filters as Kafka: state names (unknown ones echoed and
// matching nothing), producer ids, minimum running time, id pattern.
func TestServiceListTransactions(t *testing.T) {
	now := time.UnixMilli(100_000)
	svc := newTestService(t, &memStore{}, &flakyMarkers{delivered: map[TopicPartition]int{}})
	svc.cfg.Now = func() time.Time { return now }
	load := []Metadata{
		{TransactionalID: "app-1", ProducerID: 1, State: Ongoing, StartMs: 10_000, Partitions: map[TopicPartition]struct{}{{"a", 0}: {}}},
		{TransactionalID: "app-2", ProducerID: 2, State: Ongoing, StartMs: 99_000, Partitions: map[TopicPartition]struct{}{{"a", 0}: {}}},
		{TransactionalID: "other", ProducerID: 3, State: CompleteCommit, StartMs: 5_000},
	}
	var kvs []KV
	for _, m := range load {
		kvs = append(kvs, m.Record())
	}
	if err := svc.Load(kvs); err != nil {
		t.Fatal(err)
	}
	ids := func(req *kmsg.ListTransactionsRequest) ([]string, []string, int16) {
		r := svc.ListTransactions(context.Background(), req)
		var out []string
		for _, s := range r.TransactionStates {
			out = append(out, s.TransactionalID+":"+s.TransactionState)
		}
		return out, r.UnknownStateFilters, r.ErrorCode
	}
	pattern := "^app-"
	bad := "("
	for _, tc := range []struct {
		name    string
		req     func(*kmsg.ListTransactionsRequest)
		want    string
		unknown string
		code    int16
	}{
		{"all", func(*kmsg.ListTransactionsRequest) {}, "app-1:Ongoing app-2:Ongoing other:CompleteCommit", "", 0},
		{"state", func(r *kmsg.ListTransactionsRequest) { r.StateFilters = []string{"Ongoing", "Nope"} }, "app-1:Ongoing app-2:Ongoing", "Nope", 0},
		{"unknown state only", func(r *kmsg.ListTransactionsRequest) { r.StateFilters = []string{"Nope"} }, "", "Nope", 0},
		{"producer", func(r *kmsg.ListTransactionsRequest) { r.ProducerIDFilters = []int64{3} }, "other:CompleteCommit", "", 0},
		{"duration", func(r *kmsg.ListTransactionsRequest) { r.Version, r.DurationFilterMillis = 1, 50_000 }, "app-1:Ongoing other:CompleteCommit", "", 0},
		{"pattern", func(r *kmsg.ListTransactionsRequest) { r.Version, r.TransactionalIDPattern = 2, &pattern }, "app-1:Ongoing app-2:Ongoing", "", 0},
		{"bad pattern", func(r *kmsg.ListTransactionsRequest) { r.Version, r.TransactionalIDPattern = 2, &bad }, "", "", kerr.InvalidRegularExpression.Code},
	} {
		req := kmsg.NewPtrListTransactionsRequest()
		tc.req(req)
		got, unknown, code := ids(req)
		if strings.Join(got, " ") != tc.want || strings.Join(unknown, " ") != tc.unknown || code != tc.code {
			t.Errorf("%s: got %v unknown %v code %d", tc.name, got, unknown, code)
		}
	}
}

// VerifyOffsets (TxnOffsetCommit v0-4, KIP-890 part 1) asks whether the
// group's offsets partition is in the producer's transaction: not before
// AddOffsetsToTxn (TRANSACTION_ABORTABLE), yes after; a stale epoch is
// PRODUCER_FENCED. It writes nothing.
func TestServiceVerifyOffsets(t *testing.T) {
	store := &memStore{}
	svc := newTestService(t, store, &flakyMarkers{delivered: map[TopicPartition]int{}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { svc.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	id := "v"
	init := kmsg.NewPtrInitProducerIDRequest()
	init.Version, init.TransactionalID, init.TransactionTimeoutMillis = 4, &id, 10000
	ir := svc.InitProducerID(ctx, init)
	if ir.ErrorCode != 0 {
		t.Fatalf("init: %v", kerr.ErrorForCode(ir.ErrorCode))
	}
	if err := svc.VerifyOffsets(id, ir.ProducerID, ir.ProducerEpoch, "g"); !errors.Is(err, kerr.TransactionAbortable) {
		t.Fatalf("before AddOffsetsToTxn: %v, want TRANSACTION_ABORTABLE", err)
	}
	offs := kmsg.NewPtrAddOffsetsToTxnRequest()
	offs.Version, offs.TransactionalID, offs.ProducerID, offs.ProducerEpoch, offs.Group = 3, id, ir.ProducerID, ir.ProducerEpoch, "g"
	if r := svc.AddOffsetsToTxn(ctx, offs); r.ErrorCode != 0 {
		t.Fatalf("add offsets: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	store.mu.Lock()
	written := len(store.log)
	store.mu.Unlock()
	if err := svc.VerifyOffsets(id, ir.ProducerID, ir.ProducerEpoch, "g"); err != nil {
		t.Fatalf("after AddOffsetsToTxn: %v", err)
	}
	if err := svc.VerifyOffsets(id, ir.ProducerID, ir.ProducerEpoch+1, "g"); !errors.Is(err, kerr.ProducerFenced) {
		t.Fatalf("another epoch: %v, want PRODUCER_FENCED", err)
	}
	store.mu.Lock()
	defer store.mu.Unlock()
	if len(store.log) != written {
		t.Fatalf("verification wrote %d records", len(store.log)-written)
	}
}
