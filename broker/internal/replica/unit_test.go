package replica

import (
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"pgregory.net/rapid"
)

func TestEpochCacheEndOffsetFor(t *testing.T) {
	c := epochCache{entries: []EpochEntry{{1, 0}, {3, 10}, {6, 25}}}
	const leo = 40
	for _, tc := range []struct {
		requested int32
		want      EpochEndOffset
	}{
		{UndefinedEpoch, EpochEndOffset{UndefinedEpoch, UndefinedOffset}},
		{0, EpochEndOffset{0, 0}}, // below every epoch: its own epoch, first start
		{1, EpochEndOffset{1, 10}},
		{2, EpochEndOffset{1, 10}}, // unknown epoch: largest below, next start
		{3, EpochEndOffset{3, 25}},
		{5, EpochEndOffset{3, 25}},
		{6, EpochEndOffset{6, leo}}, // latest: ends at the log end
		{7, EpochEndOffset{UndefinedEpoch, UndefinedOffset}},
	} {
		if got := c.endOffsetFor(tc.requested, leo); got != tc.want {
			t.Errorf("endOffsetFor(%d) = %+v, want %+v", tc.requested, got, tc.want)
		}
	}
	var empty epochCache
	if got := empty.endOffsetFor(1, 5); got.EndOffset != UndefinedOffset {
		t.Errorf("empty cache: %+v", got)
	}
}

func TestEpochCacheAssignAndTruncate(t *testing.T) {
	var c epochCache
	for _, a := range []EpochEntry{{0, 0}, {0, 5}, {2, 5}, {3, 5}, {4, 9}} {
		if !c.assign(a.Epoch, a.StartOffset) {
			t.Fatalf("assign %+v refused", a)
		}
	}
	// e2 started at 5 with no records before e3 replaced it.
	want := []EpochEntry{{0, 0}, {3, 5}, {4, 9}}
	if !equalEntries(c.entries, want) {
		t.Fatalf("after assign: %v, want %v", c.entries, want)
	}
	if c.assign(1, 20) || c.assign(5, 8) {
		t.Fatal("assign of a lower epoch or lower start accepted")
	}
	c.truncateFromEnd(9)
	if want := []EpochEntry{{0, 0}, {3, 5}}; !equalEntries(c.entries, want) {
		t.Fatalf("truncateFromEnd(9): %v", c.entries)
	}
	c.truncateFromStart(7)
	if want := []EpochEntry{{3, 7}}; !equalEntries(c.entries, want) {
		t.Fatalf("truncateFromStart(7): %v", c.entries)
	}
	c.truncateFromStart(2) // below the first start: nothing to do
	if want := []EpochEntry{{3, 7}}; !equalEntries(c.entries, want) {
		t.Fatalf("truncateFromStart(2): %v", c.entries)
	}
}

func equalEntries(a, b []EpochEntry) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mut := range map[string]func(*Config){
		"replica id":  func(c *Config) { c.ReplicaID = -1 },
		"lag":         func(c *Config) { c.ReplicaLagTimeMaxMs = 0 },
		"min isr":     func(c *Config) { c.MinInsyncReplicas = 0 },
		"fetch":       func(c *Config) { c.FetchTimeoutMs = 0 },
		"backoff":     func(c *Config) { c.FetchBackoffMs = -1 },
		"alter retry": func(c *Config) { c.AlterPartitionRetryMs = 0 },
	} {
		c := DefaultConfig()
		mut(&c)
		if err := c.Validate(); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := New(DefaultConfig(), LogState{LogStartOffset: 5, LogEndOffset: 3}); !errors.Is(err, ErrConfig) {
		t.Errorf("bad log state: %v", err)
	}
	if _, err := New(DefaultConfig(), LogState{LogEndOffset: 9, Epochs: []EpochEntry{{2, 0}, {1, 4}}}); !errors.Is(err, ErrConfig) {
		t.Errorf("bad epochs: %v", err)
	}
}

func TestCodes(t *testing.T) {
	for _, c := range codes {
		if got := Code(c.err); got != c.kerr.Code {
			t.Errorf("Code(%v) = %d, want %d", c.err, got, c.kerr.Code)
		}
		if got := FromCode(c.kerr.Code); got != c.err {
			t.Errorf("FromCode(%d) = %v", c.kerr.Code, got)
		}
	}
	if Code(nil) != 0 || FromCode(0) != nil || Name(nil) != "NONE" {
		t.Error("nil mapping")
	}
	if Code(errors.New("x")) != kerr.UnknownServerError.Code {
		t.Error("unknown error should map to UNKNOWN_SERVER_ERROR")
	}
	if Name(ErrNotLeaderOrFollower) != "NOT_LEADER_OR_FOLLOWER" {
		t.Error(Name(ErrNotLeaderOrFollower))
	}
}

func TestBadInputLeavesStateAlone(t *testing.T) {
	cfg := DefaultConfig()
	cfg.ReplicaID = 1
	p, _ := New(cfg, LogState{})
	for _, m := range []Msg{
		PartitionState{Leader: 1, LeaderEpoch: 0, PartitionEpoch: 0, Replicas: []int32{1, 2}, ISR: []int32{2}},
		PartitionState{Leader: 1, LeaderEpoch: 0, PartitionEpoch: 0, Replicas: []int32{1, 1}, ISR: []int32{1}},
		PartitionState{Leader: 1, LeaderEpoch: -1, PartitionEpoch: 0, Replicas: []int32{1}, ISR: []int32{1}},
		MinISRChanged{MinInsyncReplicas: 0},
	} {
		if err := p.Step(m); !errors.Is(err, ErrBadInput) {
			t.Errorf("%+v: %v", m, err)
		}
	}
	if p.Role() != RoleNone {
		t.Fatal("bad input changed the role")
	}
	if err := p.Step(PartitionState{Leader: 1, LeaderEpoch: 2, PartitionEpoch: 2, Replicas: []int32{1, 2}, ISR: []int32{1, 2}}); err != nil {
		t.Fatal(err)
	}
	for _, m := range []Msg{
		Appended{Batches: []Batch{{BaseOffset: 3, LastOffset: 3, LeaderEpoch: 2}}}, // gap
		Appended{Batches: []Batch{{BaseOffset: 0, LastOffset: 0, LeaderEpoch: 1}}}, // wrong epoch
		Produce{ID: 1, LastOffset: 0, Acks: AcksAll},                               // beyond log end
		PartitionState{Leader: 2, LeaderEpoch: 1, PartitionEpoch: 3, Replicas: []int32{1, 2}, ISR: []int32{1, 2}},
		LogStartAdvanced{Offset: 1},
	} {
		if err := p.Step(m); !errors.Is(err, ErrBadInput) {
			t.Errorf("%+v: %v", m, err)
		}
	}
	if p.Role() != RoleLeader || p.LeaderEpoch() != 2 || p.LogEndOffset() != 0 {
		t.Fatalf("state changed: %s", p)
	}
}

func TestReadyAdvance(t *testing.T) {
	cfg := DefaultConfig()
	cfg.ReplicaID = 1
	p, _ := New(cfg, LogState{})
	_ = p.Step(PartitionState{Leader: 1, LeaderEpoch: 0, PartitionEpoch: 0, Replicas: []int32{1}, ISR: []int32{1}})
	if err := p.Step(Appended{Batches: []Batch{{BaseOffset: 0, LastOffset: 1, LeaderEpoch: 0}}}); err != nil {
		t.Fatal(err)
	}
	rd := p.Ready()
	if !rd.HighWatermarkChanged || rd.HighWatermark != 2 || !rd.EpochsChanged {
		t.Fatalf("first ready: %+v", rd)
	}
	_ = p.Step(Produce{ID: 7, LastOffset: 1, Acks: AcksAll})
	if p.HasReady() {
		t.Fatal("Ready before Advance must wait")
	}
	if rd := p.Ready(); !rd.Empty() {
		t.Fatalf("Ready before Advance: %+v", rd)
	}
	p.Advance()
	rd = p.Ready()
	if len(rd.Completions) != 1 || rd.Completions[0].ID != 7 || rd.Completions[0].Err != nil {
		t.Fatalf("completion: %+v", rd)
	}
	p.Advance()
	if p.HasReady() {
		t.Fatal("nothing left")
	}
}

// TestArbitraryInputNeverPanics feeds random messages, valid or not, into one
// replica: Step may refuse them but must not panic, and invariants hold.
func TestArbitraryInputNeverPanics(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		cfg := DefaultConfig()
		cfg.ReplicaID = 1
		p, err := New(cfg, LogState{})
		if err != nil {
			rt.Fatal(err)
		}
		id := rapid.Int32Range(-1, 3)
		off := rapid.Int64Range(-2, 12)
		ep := rapid.Int32Range(-1, 4)
		ids := rapid.SliceOfN(rapid.Int32Range(0, 3), 0, 4)
		for i := rapid.IntRange(1, 60).Draw(rt, "n"); i > 0; i-- {
			var m Msg
			switch rapid.IntRange(0, 7).Draw(rt, "kind") {
			case 0:
				m = PartitionState{Leader: id.Draw(rt, "leader"), LeaderEpoch: ep.Draw(rt, "le"), PartitionEpoch: ep.Draw(rt, "pe"),
					Replicas: ids.Draw(rt, "replicas"), ISR: ids.Draw(rt, "isr"), NowMs: off.Draw(rt, "now")}
			case 1:
				b := off.Draw(rt, "base")
				m = Appended{Batches: []Batch{{BaseOffset: b, LastOffset: b + off.Draw(rt, "len"), LeaderEpoch: ep.Draw(rt, "be")}}}
			case 2:
				m = Produce{ID: 1, LastOffset: off.Draw(rt, "last"), Acks: int16(rapid.IntRange(-1, 1).Draw(rt, "acks")), DeadlineMs: off.Draw(rt, "dl")}
			case 3:
				m = FollowerFetch{ReplicaID: id.Draw(rt, "r"), CurrentLeaderEpoch: ep.Draw(rt, "ce"), FetchOffset: off.Draw(rt, "fo"),
					LastFetchedEpoch: ep.Draw(rt, "lfe"), NowMs: off.Draw(rt, "now")}
			case 4:
				var d *EpochEndOffset
				if rapid.Bool().Draw(rt, "div") {
					d = &EpochEndOffset{Epoch: ep.Draw(rt, "de"), EndOffset: off.Draw(rt, "do")}
				}
				b := off.Draw(rt, "base")
				m = FetchResponse{FetchID: uint64(rapid.IntRange(0, 5).Draw(rt, "fid")), HighWatermark: off.Draw(rt, "hw"),
					LogStartOffset: off.Draw(rt, "ls"), LogEndOffset: off.Draw(rt, "le"), Diverging: d,
					Batches: []Batch{{BaseOffset: b, LastOffset: b, LeaderEpoch: ep.Draw(rt, "be")}}}
			case 5:
				m = AlterPartitionResponse{ProposalID: uint64(rapid.IntRange(0, 3).Draw(rt, "pid")), Leader: id.Draw(rt, "l"),
					LeaderEpoch: ep.Draw(rt, "le"), PartitionEpoch: ep.Draw(rt, "pe"), ISR: ids.Draw(rt, "isr")}
			case 6:
				m = Tick{NowMs: off.Draw(rt, "now") * 1000}
			default:
				m = LogStartAdvanced{Offset: off.Draw(rt, "ls")}
			}
			if err := p.Step(m); errors.Is(err, ErrInvariant) {
				rt.Fatalf("%T %+v: %v", m, m, err)
			}
			if p.HasReady() {
				p.Ready()
				p.Advance()
			}
		}
	})
}

// A restarted replica whose log already holds leader epoch 1 must refuse a
// leader-epoch-0 decision from a stale metadata image without poisoning
// itself, then take the current decision (BUGS.md #10).
func TestStaleDecisionBelowLogEpochRefused(t *testing.T) {
	for _, tc := range []struct {
		name  string
		stale PartitionState
	}{
		{"as follower", PartitionState{Leader: 2, LeaderEpoch: 0, PartitionEpoch: 0, Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2, 3}}},
		{"as leader", PartitionState{Leader: 1, LeaderEpoch: 0, PartitionEpoch: 0, Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2, 3}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.ReplicaID = 1
			p, err := New(cfg, LogState{LogEndOffset: 10, HighWatermark: 8, Epochs: []EpochEntry{{0, 0}, {1, 6}}})
			if err != nil {
				t.Fatal(err)
			}
			err = p.Step(tc.stale)
			if !errors.Is(err, ErrBadInput) || !errors.Is(err, ErrStaleDecision) {
				t.Fatalf("stale decision: err %v, want ErrBadInput and ErrStaleDecision", err)
			}
			if p.Err() != nil || p.Role() != RoleNone || p.LeaderEpoch() != -1 || p.HasReady() {
				t.Fatalf("stale decision changed state: %s err %v", p, p.Err())
			}
			cur := PartitionState{Leader: 3, LeaderEpoch: 2, PartitionEpoch: 3, Replicas: []int32{1, 2, 3}, ISR: []int32{1, 3}, NowMs: 1}
			if err := p.Step(cur); err != nil {
				t.Fatalf("current decision after a stale one: %v", err)
			}
			if p.Role() != RoleFollower || p.LeaderEpoch() != 2 || p.Leader() != 3 {
				t.Fatalf("after current decision: %s", p)
			}
			if err := p.Step(Tick{NowMs: 2}); err != nil {
				t.Fatalf("tick after recovery: %v", err)
			}
			// The log's own latest epoch is not stale.
			q, _ := New(cfg, LogState{LogEndOffset: 10, Epochs: []EpochEntry{{1, 0}}})
			if err := q.Step(PartitionState{Leader: 2, LeaderEpoch: 1, PartitionEpoch: 1, Replicas: []int32{1, 2}, ISR: []int32{1, 2}}); err != nil {
				t.Fatalf("decision at the log's latest epoch: %v", err)
			}
		})
	}
}

// TestISRProposalCarriesFollowerBrokerEpoch: the leader proposes a follower
// for the ISR with the broker epoch of the incarnation whose fetch it
// counted (KIP-903), the new one after the follower restarted.
func TestISRProposalCarriesFollowerBrokerEpoch(t *testing.T) {
	cfg := DefaultConfig()
	cfg.ReplicaID = 1
	p, err := New(cfg, LogState{LogEndOffset: 0})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Step(PartitionState{Leader: 1, LeaderEpoch: 1, PartitionEpoch: 1, Replicas: []int32{1, 2}, ISR: []int32{1}, NowMs: 1}); err != nil {
		t.Fatal(err)
	}
	p.Ready()
	p.Advance()
	for i, epoch := range []int64{4, 7} {
		if err := p.Step(FollowerFetch{ReplicaID: 2, CurrentLeaderEpoch: 1, FetchOffset: 0, LastFetchedEpoch: -1, ReplicaEpoch: epoch, NowMs: int64(2 + i)}); err != nil {
			t.Fatal(err)
		}
		rd := p.Ready()
		p.Advance()
		if rd.AlterPartition == nil {
			t.Fatalf("fetch %d: no ISR proposal", i)
		}
		if got := rd.AlterPartition.ISREpochs[2]; got != epoch {
			t.Fatalf("fetch %d: proposal epochs %v, want 2:%d", i, rd.AlterPartition.ISREpochs, epoch)
		}
		if _, ok := rd.AlterPartition.ISREpochs[1]; ok {
			t.Fatalf("the leader's own epoch is not the state machine's to know: %v", rd.AlterPartition.ISREpochs)
		}
		// The controller refuses the stale epoch; the proposal is dropped
		// and the next fetch proposes again.
		if err := p.Step(AlterPartitionResponse{ProposalID: rd.AlterPartition.ID, Err: ErrIneligibleReplica}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestDivergingAnswerCarriesHighWatermark: a replica restarted with an old
// checkpointed high watermark and a tail the leader lacks takes the
// leader's high watermark from the diverging answer, clamped to where it
// truncated, as Kafka's fetcher does (planted-control-leader-kills seed 1:
// the restarted replica joined the ISR on a fetch its leader never
// answered and then led with its checkpoint). An answer whose cut is not
// final (the follower lacks the leader's epoch) leaves the high watermark
// alone: the log below the cut may still differ from the leader's.
func TestDivergingAnswerCarriesHighWatermark(t *testing.T) {
	for _, tc := range []struct {
		name       string
		epochs     []EpochEntry
		diverging  EpochEndOffset
		leaderHW   int64
		wantLEO    int64
		wantHW     int64
		wantLatest int32
	}{
		{"same epoch: final cut", []EpochEntry{{0, 0}}, EpochEndOffset{0, 33}, 33, 33, 33, 0},
		{"same epoch, leader hw above the cut", []EpochEntry{{0, 0}}, EpochEndOffset{0, 33}, 40, 33, 33, 0},
		{"same epoch, leader hw lagging", []EpochEntry{{0, 0}}, EpochEndOffset{0, 33}, 30, 33, 30, 0},
		// We hold e0 and e2; the leader e0 and e1: it answers its end of
		// e1, we cut at our end of e0 and compare again.
		{"older epoch only: another round", []EpochEntry{{0, 0}, {2, 30}}, EpochEndOffset{1, 35}, 35, 30, 27, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.ReplicaID = 3
			p, err := New(cfg, LogState{LogEndOffset: 41, HighWatermark: 27, Epochs: tc.epochs})
			if err != nil {
				t.Fatal(err)
			}
			if err := p.Step(PartitionState{Leader: 2, LeaderEpoch: 3, PartitionEpoch: 4, Replicas: []int32{3, 1, 2}, ISR: []int32{2}, NowMs: 1}); err != nil {
				t.Fatal(err)
			}
			rd := p.Ready()
			p.Advance()
			if rd.Fetch == nil {
				t.Fatal("no fetch")
			}
			d := tc.diverging
			if err := p.Step(FetchResponse{FetchID: rd.Fetch.ID, HighWatermark: tc.leaderHW, Diverging: &d, NowMs: 2}); err != nil {
				t.Fatal(err)
			}
			if p.LogEndOffset() != tc.wantLEO || p.HighWatermark() != tc.wantHW || p.Err() != nil {
				t.Fatalf("after the diverging answer: leo %d hw %d (err %v), want leo %d hw %d", p.LogEndOffset(), p.HighWatermark(), p.Err(), tc.wantLEO, tc.wantHW)
			}
			if got := p.Epochs(); got[len(got)-1].Epoch != tc.wantLatest {
				t.Fatalf("epochs %v, want latest %d", got, tc.wantLatest)
			}
		})
	}
}
