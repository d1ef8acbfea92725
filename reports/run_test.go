package reports

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/highwater-io/highwater/checker"
	"github.com/highwater-io/highwater/history"
)

// writeSampleRun writes a 30 s run directory (history, then the real
// check's results.json) with a kill window that stops acknowledgements
// for 4 s, a fetch lagging behind an acknowledged offset inside it (a
// finding) and, when invalid, a fetch returning the wrong value at an
// offset (not linearizable, with porcupine's page).
func writeSampleRun(t *testing.T, dir string, invalid bool) checker.Summary {
	t.Helper()
	var buf bytes.Buffer
	var now time.Duration
	w, err := history.NewWriter(&buf, history.Header{Scenario: "sample", Seed: 7},
		history.WithClock(func() time.Duration { return now }))
	if err != nil {
		t.Fatal(err)
	}
	must := func(_ history.Event, err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	var log []string
	must(w.Phase(history.PhaseWorkload, ""))
	for step := 0; step < 3000; step++ {
		now = time.Duration(step) * 10 * time.Millisecond
		switch {
		case step == 1000:
			must(w.FaultStart(history.Fault{Window: 1, Fault: "kill", Description: "kill -9 n1"}))
		case step == 1400:
			must(w.FaultStop(history.Fault{Window: 1, Fault: "kill"}))
		case step == 1200:
			// A new leader's high watermark lags the last offset the old
			// one acknowledged (allowed: a finding).
			hw := int64(len(log) - 1)
			f := &history.Fetch{Topic: "t", Partition: 0, Offset: hw}
			must(w.Invoke(20, history.FFetch, f))
			now += time.Millisecond
			out := *f
			out.HighWatermark = history.Int64(hw)
			must(w.Ok(20, &out))
		case step >= 1000 && step < 1400:
			// no acknowledgements while the leader is down
		case step%2 == 0:
			v := fmt.Sprintf("v%d", len(log))
			s := &history.Send{Records: []history.SendRecord{{Topic: "t", Partition: 0, Value: v}}}
			must(w.Invoke(1, history.FSend, s))
			now += time.Duration(1+step%7) * time.Millisecond
			s.Records[0].Offset = history.Int64(int64(len(log)))
			log = append(log, v)
			must(w.Ok(1, s))
		case step%10 == 1:
			off := int64(max(0, len(log)-2))
			f := &history.Fetch{Topic: "t", Partition: 0, Offset: off}
			must(w.Invoke(20, history.FFetch, f))
			now += time.Millisecond
			out := *f
			out.HighWatermark = history.Int64(int64(len(log)))
			for o := off; o < int64(len(log)); o++ {
				v := log[o]
				if invalid && step == 2001 {
					v = "wrong"
				}
				out.Records = append(out.Records, history.Record{Offset: o, Value: v})
			}
			must(w.Ok(20, &out))
		}
	}
	now += time.Second
	must(w.Phase(history.PhaseDrain, ""))
	must(w.Invoke(99, history.FAssign, &history.Assign{Partitions: []history.TopicPartition{{Topic: "t"}}, SeekToBeginning: true}))
	must(w.Ok(99, nil))
	must(w.Invoke(99, history.FPoll, nil))
	pr := history.PartitionRecords{Topic: "t"}
	for o, v := range log {
		pr.Records = append(pr.Records, history.Record{Offset: int64(o), Value: v})
	}
	must(w.Ok(99, &history.Poll{Partitions: []history.PartitionRecords{pr}}))
	must(w.Phase(history.PhaseDone, ""))
	path := filepath.Join(dir, "history.jsonl")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := checker.Check(ctx, path, dir)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestRunReport(t *testing.T) {
	for _, invalid := range []bool{false, true} {
		t.Run(fmt.Sprintf("invalid=%v", invalid), func(t *testing.T) {
			dir := t.TempDir()
			s := writeSampleRun(t, dir, invalid)
			want := checker.Valid
			if invalid {
				want = checker.Invalid
			}
			if s.Valid != want {
				t.Fatalf("sample run judged %s:\n%s", s.Valid, s.Text())
			}
			if err := WriteRunReport(dir); err != nil {
				t.Fatal(err)
			}
			page, err := os.ReadFile(filepath.Join(dir, RunReportFile))
			if err != nil {
				t.Fatal(err)
			}
			html := string(page)
			for _, m := range []string{
				"<svg", "Throughput over time", "Send latency over time",
				`class="fault"`, `class="ackgap"`, "fault: kill", "ack gap",
				checker.StaleHighWatermark, "Findings (allowed, not anomalies)",
				strings.ToUpper(want.String()) + "</span>",
			} {
				if !strings.Contains(html, m) {
					t.Errorf("report lacks %q", m)
				}
			}
			if n := strings.Count(html, "<svg"); n != 2 {
				t.Errorf("%d plots, want 2", n)
			}
			if strings.Contains(html, `src="http`) || strings.Contains(html, `href="http`) || strings.Contains(html, "@import") || strings.Contains(html, "<script") {
				t.Errorf("report is not self-contained")
			}
			if invalid {
				link := `href="linearizability/t-0.html"`
				if !strings.Contains(html, link) || !strings.Contains(html, checker.NotLinearizable) {
					t.Errorf("invalid run's report lacks the anomaly and its %s", link)
				}
				if _, err := os.Stat(filepath.Join(dir, "linearizability", "t-0.html")); err != nil {
					t.Error(err)
				}
			} else if !strings.Contains(html, "<p>None.</p>") {
				t.Errorf("valid run's report should say no anomalies")
			}
		})
	}
}

// TestRenderRunDeterministic: the same run renders byte for byte the same
// (nothing reads the clock or the host).
func TestRenderRunDeterministic(t *testing.T) {
	dir := t.TempDir()
	writeSampleRun(t, dir, true)
	if err := WriteRunReport(dir); err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(filepath.Join(dir, RunReportFile))
	if err := WriteRunReport(dir); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, RunReportFile))
	if !bytes.Equal(a, b) {
		t.Fatal("two renderings differ")
	}
}

func TestRenderRunEmptyAndMissing(t *testing.T) {
	var b bytes.Buffer
	if err := RenderRun(&b, RunPage{}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "no timeline") || !strings.Contains(b.String(), "UNKNOWN") {
		t.Errorf("empty page:\n%s", b.String())
	}
	if err := WriteRunReport(t.TempDir()); err == nil {
		t.Error("a directory without results.json rendered")
	}
	// A run that did not drain is at best unknown, whatever the checkers say.
	no := false
	b.Reset()
	if err := RenderRun(&b, RunPage{Meta: RunMeta{Drained: &no, Drain: "timed out"}, Summary: checker.Summary{Valid: checker.Valid}}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "UNKNOWN</span>") || !strings.Contains(b.String(), "drain: timed out") {
		t.Errorf("undrained run:\n%s", b.String())
	}
}
