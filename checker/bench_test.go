package checker

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/highwater-io/highwater/history"
)

// genLarge records a correct run of about nOps operations over parts
// partitions: 8 producers with overlapping sends, 2 explicit-offset readers,
// 2 consumers, a fault window every 10,000 operations, and a final drain.
func genLarge(tb testing.TB, nOps, parts int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, 0))
	var buf bytes.Buffer
	var clock time.Duration
	w, err := history.NewWriter(&buf, history.Header{Scenario: "bench", Seed: int64(seed)},
		history.WithClock(func() time.Duration { clock += time.Microsecond; return clock }))
	if err != nil {
		tb.Fatal(err)
	}
	must := func(_ history.Event, err error) {
		if err != nil {
			tb.Fatal(err)
		}
	}
	logs := make([][]string, parts)
	type prod struct {
		busy bool
		v    string
		p    int32
	}
	prods := make([]prod, 8)
	pos := make([][]int64, 2)
	for c := range pos {
		pos[c] = make([]int64, parts)
		tps := make([]history.TopicPartition, parts)
		for p := range tps {
			tps[p] = history.TopicPartition{Topic: "t", Partition: int32(p)}
		}
		must(w.Invoke(200+c, history.FAssign, &history.Assign{Partitions: tps, SeekToBeginning: true}))
		must(w.Ok(200+c, nil))
	}
	next := 0
	window := int64(0)
	for ops := 0; ops < nOps; ops++ {
		if ops%10000 == 0 {
			window++
			must(w.FaultStart(history.Fault{Window: window, Fault: "pause", Description: "pause node 1"}))
			must(w.FaultStop(history.Fault{Window: window, Fault: "pause"}))
		}
		switch r := rng.IntN(10); {
		case r < 6:
			i := rng.IntN(len(prods))
			pr := &prods[i]
			if !pr.busy {
				next++
				*pr = prod{busy: true, v: fmt.Sprintf("v%d", next), p: int32(rng.IntN(parts))}
				must(w.Invoke(i, history.FSend, sendOf("t", pr.p, pr.v)))
				continue
			}
			logs[pr.p] = append(logs[pr.p], pr.v)
			s := sendOf("t", pr.p, pr.v)
			s.Records[0].Offset = history.Int64(int64(len(logs[pr.p]) - 1))
			must(w.Ok(i, s))
			pr.busy = false
		case r < 8:
			p := rng.IntN(parts)
			hw := int64(len(logs[p]))
			off := max(0, hw-int64(rng.IntN(3)))
			f := &history.Fetch{Topic: "t", Partition: int32(p), Offset: off}
			must(w.Invoke(100+r, history.FFetch, f))
			out := *f
			out.HighWatermark = history.Int64(hw)
			for o := off; o < hw && o < off+2; o++ {
				out.Records = append(out.Records, history.Record{Offset: o, Value: logs[p][o]})
			}
			must(w.Ok(100+r, &out))
		default:
			c := r - 8
			must(w.Invoke(200+c, history.FPoll, nil))
			poll := &history.Poll{}
			for p := range parts {
				pr := history.PartitionRecords{Topic: "t", Partition: int32(p)}
				for o := pos[c][p]; o < int64(len(logs[p])) && o < pos[c][p]+5; o++ {
					pr.Records = append(pr.Records, history.Record{Offset: o, Value: logs[p][o]})
				}
				pos[c][p] += int64(len(pr.Records))
				if len(pr.Records) > 0 {
					poll.Partitions = append(poll.Partitions, pr)
				}
			}
			must(w.Ok(200+c, poll))
		}
	}
	for i, pr := range prods {
		if pr.busy {
			logs[pr.p] = append(logs[pr.p], pr.v)
			s := sendOf("t", pr.p, pr.v)
			s.Records[0].Offset = history.Int64(int64(len(logs[pr.p]) - 1))
			must(w.Ok(i, s))
		}
	}
	must(w.Phase(history.PhaseDrain, ""))
	for p := range parts {
		for o := 0; o < len(logs[p]); o += 500 {
			must(w.Invoke(999, history.FPoll, nil))
			pr := history.PartitionRecords{Topic: "t", Partition: int32(p)}
			for k := o; k < len(logs[p]) && k < o+500; k++ {
				pr.Records = append(pr.Records, history.Record{Offset: int64(k), Value: logs[p][k]})
			}
			must(w.Ok(999, &history.Poll{Partitions: []history.PartitionRecords{pr}}))
		}
	}
	must(w.Phase(history.PhaseDone, ""))
	return buf.Bytes()
}

func benchmarkCheck(b *testing.B, nOps, parts int) {
	data := genLarge(b, nOps, parts, 1)
	b.ReportMetric(float64(len(data))/(1<<20), "MiB-history")
	b.ResetTimer()
	for b.Loop() {
		h, err := history.Read(bytes.NewReader(data))
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		s := Run(ctx, h, &Queue{}, &Linearizability{})
		cancel()
		if s.Valid != Valid {
			b.Fatalf("generated history judged %s:\n%s", s.Valid, s.Text())
		}
	}
}

func BenchmarkCheck10k(b *testing.B)  { benchmarkCheck(b, 10_000, 4) }
func BenchmarkCheck100k(b *testing.B) { benchmarkCheck(b, 100_000, 8) }
func BenchmarkCheck1M(b *testing.B)   { benchmarkCheck(b, 1_000_000, 16) }

// BenchmarkCheckMillion is the acceptance figure: a generated
// 1,000,000-operation history over 16 partitions, written to a file and
// checked the way highwater check does (load, both checkers, results
// written), aiming at under a minute and under 2 GiB. Besides ns/op it
// reports the history's size, the peak Go heap in use and the memory the
// runtime took from the OS, sampled every 20 ms during the check (run
// under /usr/bin/time -v for the process's peak RSS):
//
//	go test -run '^$' -bench BenchmarkCheckMillion -benchtime 1x -benchmem ./checker/
func BenchmarkCheckMillion(b *testing.B) {
	dir := b.TempDir()
	path := filepath.Join(dir, "history.jsonl")
	data := genLarge(b, 1_000_000, 16, 1)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		b.Fatal(err)
	}
	historyMiB := float64(len(data)) / (1 << 20)
	data = nil
	runtime.GC()
	var peakHeap, peakSys uint64
	b.ResetTimer()
	for b.Loop() {
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			tick := time.NewTicker(20 * time.Millisecond)
			defer tick.Stop()
			var m runtime.MemStats
			for {
				runtime.ReadMemStats(&m)
				peakHeap, peakSys = max(peakHeap, m.HeapInuse), max(peakSys, m.Sys)
				select {
				case <-stop:
					return
				case <-tick.C:
				}
			}
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		s, err := Check(ctx, path, dir)
		cancel()
		close(stop)
		<-done
		if err != nil {
			b.Fatal(err)
		}
		if s.Valid != Valid {
			b.Fatalf("generated history judged %s:\n%s", s.Valid, s.Text())
		}
	}
	b.ReportMetric(historyMiB, "MiB-history")
	b.ReportMetric(float64(peakHeap)/(1<<20), "MiB-peak-heap")
	b.ReportMetric(float64(peakSys)/(1<<20), "MiB-peak-sys")
}

// TestLargeGeneratedHistoryIsValid keeps the benchmark's generator honest
// in ordinary test runs, at a small size.
func TestLargeGeneratedHistoryIsValid(t *testing.T) {
	h, err := history.Read(bytes.NewReader(genLarge(t, 3000, 3, 7)))
	if err != nil {
		t.Fatal(err)
	}
	if s := checkFast(h); s.Valid != Valid {
		t.Fatalf("%s", s.Text())
	}
}

// TestCheckLargeFile measures a real check of a generated history from disk:
// HIGHWATER_BENCH_OPS=1000000 go test -run TestCheckLargeFile -v ./checker
// (run under /usr/bin/time -v for peak memory). Skipped by default.
func TestCheckLargeFile(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("HIGHWATER_BENCH_OPS"))
	if n <= 0 {
		t.Skip("set HIGHWATER_BENCH_OPS to the number of operations")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "history.jsonl")
	if err := os.WriteFile(path, genLarge(t, n, 16, 1), 0o644); err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	st, _ := os.Stat(path)
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	s, err := Check(context.Background(), path, dir)
	if err != nil {
		t.Fatal(err)
	}
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	t.Logf("%d ops, %d MiB history: %s in %s (heap sys %d MiB)", n, st.Size()>>20, s.Valid, time.Since(start), after.HeapSys>>20)
	if s.Valid != Valid {
		t.Fatal(s.Text())
	}
}
