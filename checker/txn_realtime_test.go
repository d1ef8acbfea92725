package checker

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/highwater-io/highwater/history"
)

func okTxn(proc int, sends []tsend, reads []tread) txnSpec {
	return txnSpec{proc: proc, commit: true, typ: history.TypeOK, sends: sends, reads: reads}
}

// TestTxnOrderCycles plants each process and realtime cycle in a small
// history, and builds histories that must stay valid: the same offsets
// with the transactions concurrent, or ordered only after an info.
// A process order is also a realtime order, so every -process cycle is
// reported as the -realtime one too (Elle does the same).
func TestTxnOrderCycles(t *testing.T) {
	for _, tc := range []struct {
		name  string
		build func(b *hb)
		want  map[string]int // nil: valid
	}{{
		// T2 runs after T1 on the same process, yet its b lands before
		// T1's a.
		name: "G0-process",
		build: func(b *hb) {
			b.txn(okTxn(0, []tsend{{p: 0, v: "a", off: 1}}, nil))
			b.txn(okTxn(0, []tsend{{p: 0, v: "b", off: 0}}, nil))
		},
		want: map[string]int{CycleG0Process: 1, CycleG0Realtime: 1},
	}, {
		name: "G0-realtime",
		build: func(b *hb) {
			b.txn(okTxn(0, []tsend{{p: 0, v: "a", off: 1}}, nil))
			b.txn(okTxn(1, []tsend{{p: 0, v: "b", off: 0}}, nil))
		},
		want: map[string]int{CycleG0Realtime: 1},
	}, {
		name: "G0-realtime between plain sends",
		build: func(b *hb) {
			b.sendOK(0, "a", 1)
			b.sendOK(1, "b", 0)
			b.poll(2, rec{0, "b"}, rec{1, "a"})
		},
		want: map[string]int{CycleG0Realtime: 1},
	}, {
		// T3 read T1's a while T0 and T1 ran one after the other on
		// process 0; T3's x precedes T0's y, so T0 → T1 → T3 → T0.
		name: "G1c-process",
		build: func(b *hb) {
			t3 := okTxn(1, []tsend{{p: 1, v: "x", off: 0}}, []tread{{p: 0, off: 0, v: "a"}})
			b.txnInvoke(t3)
			b.txn(okTxn(0, []tsend{{p: 1, v: "y", off: 1}}, nil))
			b.txn(okTxn(0, []tsend{{p: 0, v: "a", off: 0}}, nil))
			b.txnComplete(t3)
		},
		want: map[string]int{CycleG1cProcess: 1, CycleG1cRealtime: 1},
	}, {
		// T1 read b, which T2 wrote, though T2 began after T1 ended.
		name: "G1c-realtime: read from the future",
		build: func(b *hb) {
			b.txn(okTxn(0, nil, []tread{{p: 0, off: 0, v: "b"}}))
			b.txn(okTxn(1, []tsend{{p: 0, v: "b", off: 0}}, nil))
		},
		want: map[string]int{CycleG1cRealtime: 1},
	}, {
		// T2 read T1's a, so T1 had committed (though its client heard
		// so only at the end); T3 began after T2 ended, yet its e
		// precedes T1's f.
		name: "G1c-realtime through a write-write edge",
		build: func(b *hb) {
			t1 := okTxn(0, []tsend{{p: 0, v: "a", off: 0}, {p: 2, v: "f", off: 1}}, nil)
			b.txnInvoke(t1)
			b.txn(okTxn(1, []tsend{{p: 1, v: "c", off: 0}}, []tread{{p: 0, off: 0, v: "a"}}))
			b.txn(okTxn(2, []tsend{{p: 2, v: "e", off: 0}}, nil))
			b.txnComplete(t1)
		},
		want: map[string]int{CycleG1cRealtime: 1},
	}, {
		// The same with T1 ending before T3 began is the shorter
		// G0-realtime T1 → T3 → T1.
		name: "G0-realtime shortens a longer cycle",
		build: func(b *hb) {
			b.txn(okTxn(0, []tsend{{p: 0, v: "a", off: 0}, {p: 2, v: "f", off: 1}}, nil))
			b.txn(okTxn(1, []tsend{{p: 1, v: "c", off: 0}}, []tread{{p: 0, off: 0, v: "a"}}))
			b.txn(okTxn(2, []tsend{{p: 2, v: "e", off: 0}}, nil))
		},
		want: map[string]int{CycleG0Realtime: 1},
	}, {
		// A read_committed poll saw the info transaction T1's a (so it
		// had committed); T2 began after the poll, yet b precedes a.
		name: "G1c-realtime through a poll",
		build: func(b *hb) {
			b.txn(txnSpec{proc: 0, commit: true, typ: history.TypeInfo, sends: []tsend{{p: 0, v: "a", off: 1}}})
			b.pollIso(5, rc, tread{p: 0, off: 1, v: "a"})
			b.txn(okTxn(1, []tsend{{p: 0, v: "b", off: 0}}, nil))
		},
		want: map[string]int{CycleG1cRealtime: 1},
	}, {
		name: "concurrent transactions are not ordered",
		build: func(b *hb) {
			b.txns(okTxn(0, []tsend{{p: 0, v: "a", off: 1}}, nil), okTxn(1, []tsend{{p: 0, v: "b", off: 0}}, nil))
		},
	}, {
		name: "concurrent read of a later writer",
		build: func(b *hb) {
			b.txns(okTxn(0, nil, []tread{{p: 0, off: 0, v: "b"}}), okTxn(1, []tsend{{p: 0, v: "b", off: 0}}, nil))
		},
	}, {
		// An info transaction may commit any time later: nothing on its
		// process or after it is ordered after it.
		name: "nothing is ordered after an info",
		build: func(b *hb) {
			b.txn(txnSpec{proc: 0, commit: true, typ: history.TypeInfo, sends: []tsend{{p: 0, v: "a", off: 1}}})
			b.txn(okTxn(0, []tsend{{p: 0, v: "b", off: 0}}, nil))
			b.pollIso(5, rc, tread{p: 0, off: 0, v: "b"}, tread{p: 0, off: 1, v: "a"})
		},
	}, {
		name: "serial history in offset order",
		build: func(b *hb) {
			b.txn(okTxn(0, []tsend{{p: 0, v: "a", off: 0}}, nil))
			b.txn(okTxn(0, []tsend{{p: 0, v: "b", off: 2}}, []tread{{p: 0, off: 0, v: "a"}}))
			b.txn(okTxn(1, []tsend{{p: 0, v: "c", off: 3}, {p: 1, v: "d", off: 0}}, []tread{{p: 0, off: 2, v: "b"}}))
			b.pollIso(5, rc, tread{p: 0, off: 0, v: "a"}, tread{p: 0, off: 2, v: "b"}, tread{p: 0, off: 3, v: "c"})
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			b := newHB(t)
			tc.build(b)
			r := checkOne(t, &TxnCycles{}, b.history())
			if tc.want == nil {
				if r.Valid != Valid {
					t.Fatalf("want valid, got %s %v %v", r.Valid, r.Counts, r.Anomalies)
				}
				return
			}
			if r.Valid != Invalid || !maps.Equal(r.Counts, tc.want) {
				t.Fatalf("want invalid %v, got %s %v", tc.want, r.Valid, r.Counts)
			}
			for _, a := range r.Anomalies {
				t.Logf("%s: %s", a.Type, a.Explanation)
				if len(a.Ops) < 2 || a.Explanation == "" {
					t.Errorf("%s names %d ops: %+v", a.Type, len(a.Ops), a)
				}
			}
		})
	}
}

// TestTxnOrderCyclesAllowed: cycles of Jepsen's graph of whole operations
// that need a process or realtime edge but that an interleaving of
// unisolated transactional writes explains are findings, not anomalies.
func TestTxnOrderCyclesAllowed(t *testing.T) {
	for _, tc := range []struct {
		name  string
		build func(b *hb)
		want  map[string]int64
	}{{
		// T1 writes x before T2's y, T3 (after T2) writes u before T1's
		// v: T1 →ww T2 →rt T3 →ww T1, fine while T1 is still open.
		name: "G0-realtime-allowed",
		build: func(b *hb) {
			t1 := okTxn(0, []tsend{{p: 0, v: "x", off: 0}, {p: 1, v: "v", off: 1}}, nil)
			b.txnInvoke(t1)
			b.txn(okTxn(1, []tsend{{p: 0, v: "y", off: 1}}, nil))
			b.txn(okTxn(2, []tsend{{p: 1, v: "u", off: 0}}, nil))
			b.txnComplete(t1)
		},
		want: map[string]int64{CycleG0RealtimeAllowed: 1},
	}, {
		name: "G0-process-allowed",
		build: func(b *hb) {
			t1 := okTxn(0, []tsend{{p: 0, v: "x", off: 0}, {p: 1, v: "v", off: 1}}, nil)
			b.txnInvoke(t1)
			b.txn(okTxn(1, []tsend{{p: 0, v: "y", off: 1}}, nil))
			b.txn(okTxn(1, []tsend{{p: 1, v: "u", off: 0}}, nil))
			b.txnComplete(t1)
		},
		want: map[string]int64{CycleG0ProcessAllowed: 1, CycleG0RealtimeAllowed: 1},
	}, {
		// T1 writes x before T2's y; a poll saw y committed and ended
		// before T3 wrote u ahead of T1's late v: T1 →ww T2 →wr poll →rt
		// T3 →ww T1, fine while T1 and T2 are still open.
		name: "G1c-realtime-allowed",
		build: func(b *hb) {
			t1 := okTxn(0, []tsend{{p: 0, v: "x", off: 0}, {p: 1, v: "v", off: 1}}, nil)
			t2 := okTxn(1, []tsend{{p: 0, v: "y", off: 1}}, nil)
			b.txnInvoke(t1)
			b.txnInvoke(t2)
			b.pollIso(5, rc, tread{p: 0, off: 1, v: "y"})
			b.txn(okTxn(2, []tsend{{p: 1, v: "u", off: 0}}, nil))
			b.txnComplete(t2)
			b.txnComplete(t1)
		},
		want: map[string]int64{CycleG1cRealtimeAllowed: 1},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			b := newHB(t)
			tc.build(b)
			r := checkOne(t, &TxnCycles{}, b.history())
			if r.Valid != Valid {
				t.Fatalf("want valid, got %s %v %v", r.Valid, r.Counts, r.Anomalies)
			}
			got := map[string]int64{}
			for k, v := range r.Stats {
				if k != "G0-allowed" && strings.HasSuffix(k, "-allowed") && v > 0 {
					got[k] = v
				}
			}
			if !maps.Equal(got, tc.want) || len(r.Findings) != len(tc.want) {
				t.Fatalf("want findings %v, got %v (%d listed)", tc.want, got, len(r.Findings))
			}
			for _, f := range r.Findings {
				t.Logf("%s: %s", f.Type, f.Explanation)
			}
		})
	}
}

// TestTxnRealtimeExplanationIsMinimal: a realtime chain through ops that
// add nothing (the transitive reduction's intermediate ops) is explained
// as one realtime edge between the two ops that matter.
func TestTxnRealtimeExplanationIsMinimal(t *testing.T) {
	b := newHB(t)
	b.txn(okTxn(0, []tsend{{p: 0, v: "a", off: 9}}, nil))
	for i := range 5 { // unrelated serial ops in between
		b.txn(okTxn(10+i, []tsend{{p: 3, v: fmt.Sprintf("z%d", i), off: int64(i)}}, nil))
	}
	b.txn(okTxn(1, []tsend{{p: 0, v: "b", off: 0}}, nil))
	r := checkOne(t, &TxnCycles{}, b.history())
	if r.Counts[CycleG0Realtime] != 1 {
		t.Fatalf("want one G0-realtime, got %s %v", r.Valid, r.Counts)
	}
	a := r.Anomalies[0]
	t.Log(a.Explanation)
	if len(a.Ops) != 2 {
		t.Fatalf("explanation should name the 2 ops of the cycle, not the chain: %d ops: %s", len(a.Ops), a.Explanation)
	}
}

// TestTxnSerialProperty: a serial history — one operation at a time, each
// appending at the log's end and reading only what is committed — never
// yields a dependency cycle of any kind, not even an allowed one.
func TestTxnSerialProperty(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		b := newHB(rt)
		parts := rapid.IntRange(1, 3).Draw(rt, "partitions")
		logs := make([][]tread, parts) // committed records per partition
		next := make([]int64, parts)   // next offset (aborted records take offsets too)
		n := 0
		for range rapid.IntRange(1, 60).Draw(rt, "ops") {
			proc := rapid.IntRange(0, 3).Draw(rt, "proc")
			switch rapid.IntRange(0, 3).Draw(rt, "kind") {
			case 0, 1: // a transaction: read a committed stretch, then send
				var reads []tread
				if p := rapid.IntRange(0, parts-1).Draw(rt, "rp"); len(logs[p]) > 0 {
					from := rapid.IntRange(0, len(logs[p])-1).Draw(rt, "from")
					reads = append(reads, logs[p][from:]...)
				}
				commit := rapid.IntRange(0, 3).Draw(rt, "commit") > 0
				var sends []tsend
				for range rapid.IntRange(0, 3).Draw(rt, "sends") {
					p := rapid.IntRange(0, parts-1).Draw(rt, "sp")
					sends = append(sends, tsend{p: int32(p), v: fmt.Sprintf("v%d", n), off: next[p]})
					next[p]++
					n++
				}
				typ := history.TypeOK
				if !commit && rapid.Bool().Draw(rt, "fail") {
					typ = history.TypeFail
				}
				b.txn(txnSpec{proc: proc, commit: commit, typ: typ, sends: sends, reads: reads})
				if commit {
					for _, s := range sends {
						logs[s.p] = append(logs[s.p], tread{p: s.p, off: s.off, v: s.v})
					}
				}
			case 2: // a plain send
				p := rapid.IntRange(0, parts-1).Draw(rt, "pp")
				v := fmt.Sprintf("v%d", n)
				n++
				rec := history.SendRecord{Topic: "t", Partition: int32(p), Value: v}
				b.must(b.w.Invoke(proc+100, history.FSend, &history.Send{Records: []history.SendRecord{rec}}))
				rec.Offset = history.Int64(next[p])
				b.must(b.w.Ok(proc+100, &history.Send{Records: []history.SendRecord{rec}}))
				logs[p] = append(logs[p], tread{p: int32(p), off: next[p], v: v})
				next[p]++
			default: // a read_committed poll of everything committed
				var all []tread
				for _, l := range logs {
					all = append(all, l...)
				}
				b.pollIso(proc+200, rc, all...)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if r := (&TxnCycles{StrictG0: true}).Check(ctx, b.history()); r.Valid != Valid || len(r.Counts) > 0 || len(r.Findings) > 0 {
			rt.Fatalf("serial history: %s %v %v %v", r.Valid, r.Counts, r.Anomalies, r.Findings)
		}
	})
}

// BenchmarkTxnCycles checks a generated 100,000-operation transactional
// history (about three concurrent transactions, long-lived consumers)
// with the txn-cycles checker alone: the event graph with its process and
// realtime edges, and the three cycle searches.
func BenchmarkTxnCycles(b *testing.B) {
	h := genTxnHistory(b, 100_000)
	ctx := context.Background()
	r := (&TxnCycles{}).Check(ctx, h)
	b.Logf("%d ops, %d events; graph %d nodes, %d edges", len(h.Ops), len(h.Events), r.Stats["nodes"], r.Stats["edges"])
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if r := (&TxnCycles{}).Check(ctx, h); r.Valid != Valid {
			b.Fatalf("%s %s %v", r.Valid, r.Reason, r.Counts)
		}
	}
}

// FuzzTxnCycles: any history the reader accepts is judged by the
// transactional checkers without panicking, and valid never comes with
// anomalies. Seeds: the hand-made cycles above, as written histories.
func FuzzTxnCycles(f *testing.F) {
	for _, build := range []func(b *hb){
		func(b *hb) {
			b.txn(okTxn(0, []tsend{{p: 0, v: "a", off: 1}}, nil))
			b.txn(okTxn(0, []tsend{{p: 0, v: "b", off: 0}}, nil))
		},
		func(b *hb) {
			t1 := okTxn(0, []tsend{{p: 0, v: "x", off: 0}, {p: 1, v: "v", off: 1}}, nil)
			t2 := okTxn(1, []tsend{{p: 0, v: "y", off: 1}}, nil)
			b.txnInvoke(t1)
			b.txnInvoke(t2)
			b.pollIso(5, rc, tread{p: 0, off: 1, v: "y"})
			b.txn(okTxn(2, []tsend{{p: 1, v: "u", off: 0}}, []tread{{p: 0, off: 0, v: "x"}}))
			b.txnComplete(t2)
			b.txn(txnSpec{proc: 3, commit: true, typ: history.TypeInfo, sends: []tsend{{p: 2, v: "i", off: 0}}})
			b.txnComplete(t1)
			b.drainRC(tread{p: 0, off: 0, v: "x"}, tread{p: 0, off: 1, v: "y"}, tread{p: 2, off: 0, v: "i"})
		},
	} {
		b := newHBHeader(f, history.Header{Scenario: "txn", Seed: 1, Params: map[string]string{"workload": "txn"}})
		build(b)
		f.Add(b.bytes())
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := history.Read(bytes.NewReader(data))
		if err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for _, r := range Run(ctx, h, &Txn{}, &TxnCycles{}, &TxnCycles{StrictG0: true}).Results {
			if r.Valid == Valid && len(r.Anomalies) > 0 {
				t.Fatalf("%s valid with anomalies: %+v", r.Checker, r.Anomalies)
			}
		}
	})
}
