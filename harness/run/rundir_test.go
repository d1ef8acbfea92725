package run

import (
	"bufio"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/highwater-io/highwater/harness/workload"
	"github.com/highwater-io/highwater/history"
	"github.com/highwater-io/highwater/internal/seed"
	"github.com/highwater-io/highwater/nemesis"
)

func TestDirLayout(t *testing.T) {
	start := time.Date(2026, 11, 28, 9, 8, 4, 123, time.FixedZone("CET", 3600))
	got := Dir("runs", "smoke-kill", start, 42)
	if want := filepath.Join("runs", "smoke-kill", "20261128T080804Z-42"); got != want {
		t.Fatalf("Dir = %q, want %q (UTC time, then the seed)", got, want)
	}
	ts, seed, err := ParseDirName(filepath.Base(got))
	if err != nil || seed != 42 || !ts.Equal(start.Truncate(time.Second)) {
		t.Fatalf("ParseDirName = %v, %d, %v", ts, seed, err)
	}
	if _, _, err := ParseDirName("garbage"); err == nil {
		t.Error("ParseDirName(garbage) succeeded")
	}
}

func TestScheduleFileParsesBack(t *testing.T) {
	s := nemesis.Generate(7, []string{"kill", "pause"}, time.Minute, 5*time.Second, 5*time.Second)
	if len(s.Steps) == 0 {
		t.Fatal("empty schedule")
	}
	path := filepath.Join(t.TempDir(), NemesisJSONL)
	if err := writeSchedule(path, s); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	var lines []scheduleLine
	for sc.Scan() {
		var l scheduleLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, l)
	}
	if len(lines) != 1+len(s.Steps) || lines[0].Seed == nil || *lines[0].Seed != s.Seed {
		t.Fatalf("lines = %+v", lines)
	}
	back, err := nemesis.Parse(lines[0].Text)
	if err != nil || back.String() != s.String() {
		t.Fatalf("schedule does not parse back: %v\n%s\nvs\n%s", err, back, s)
	}
	for i, st := range s.Steps {
		if l := lines[i+1]; l.Fault != st.Fault || l.At != st.At.String() || l.Duration != st.Duration.String() {
			t.Errorf("step %d: %+v vs %+v", i, l, st)
		}
	}
}

func TestInfoRoundTripAndLogs(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, ClusterDir, "node-1", "server.log")
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(logPath, []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	nodes := []NodeInfo{{ID: 1, Addr: "127.0.0.1:1", Log: logPath}, {ID: 2, Addr: "remote:1", Log: "pod/kafka-2"}}
	if err := linkLogs(dir, nodes); err != nil {
		t.Fatal(err)
	}
	target, err := os.Readlink(filepath.Join(dir, LogsDir, "node-1.log"))
	if err != nil || filepath.IsAbs(target) {
		t.Fatalf("node-1.log links to %q (%v), want a relative link inside the run directory", target, err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, LogsDir, "node-1.log")); err != nil || string(b) != "hello\n" {
		t.Fatalf("read through link: %q, %v", b, err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, LogsDir, "node-2.log.location")); err != nil || strings.TrimSpace(string(b)) != "pod/kafka-2" {
		t.Fatalf("remote log location: %q, %v", b, err)
	}
	conv := true
	in := Info{Scenario: "s", Seed: -3, Nodes: nodes, Converged: &conv, Schedule: "seed 1", Replay: "highwater chaos --seed -3"}
	if err := writeJSON(filepath.Join(dir, RunJSON), in); err != nil {
		t.Fatal(err)
	}
	out, err := ReadInfo(dir)
	if err != nil || out.Seed != -3 || out.Replay != in.Replay || out.Converged == nil || !*out.Converged {
		t.Fatalf("ReadInfo = %+v, %v", out, err)
	}
}

func TestScenarioValidateAndReplay(t *testing.T) {
	sc := Scenario{Name: "smoke", Cluster: ClusterConfig{Impl: ImplKafka, NetNS: true, Set: map[string]string{"b": "2", "a": "1"}}}.Defaults()
	sc.Workload.Acks = "1"
	if err := sc.Validate(); err != nil {
		t.Fatal(err)
	}
	cmd := sc.ReplayCommand(99, []string{"kill", "partition-leader"})
	for _, want := range []string{"--seed 99", "--impl kafka", "--nodes 3", "--faults kill,partition-leader", "--netns", "--set a=1 --set b=2", "--scenario smoke", "--acks 1"} {
		if !strings.Contains(cmd, want) {
			t.Errorf("replay %q lacks %q", cmd, want)
		}
	}
	for _, bad := range []Scenario{
		{Name: "a/b"},
		{Name: "x", Cluster: ClusterConfig{Impl: "redpanda"}},
		{Name: "x", Cluster: ClusterConfig{Impl: ImplKfake, NetNS: true}},
		{Name: "x", Cluster: ClusterConfig{Impl: ImplKafka, Proxy: true}},
		{Name: "x", Cluster: ClusterConfig{Impl: ImplReference, NetNS: true, Proxy: true}},
	} {
		if err := bad.Defaults().Validate(); !errors.Is(err, ErrBadScenario) {
			t.Errorf("Validate(%+v) = %v, want ErrBadScenario", bad, err)
		}
	}
}

func TestFigures(t *testing.T) {
	h := &history.History{
		Phases: []history.Event{{Time: 0, F: history.PhaseWorkload}, {Time: 10e9, F: history.PhaseRecovery}},
		Faults: []history.Window{{Fault: "kill", StartTime: 2e9, StopTime: 6e9}},
		Events: []history.Event{{Time: 12e9}},
	}
	for _, t := range []int64{1e9, 2e9, 7e9, 9e9} {
		h.Ops = append(h.Ops, history.Op{F: history.FSend, Complete: history.Event{Type: history.TypeOK, Time: t}})
	}
	h.Ops = append(h.Ops, history.Op{F: history.FSend, Complete: history.Event{Type: history.TypeInfo, Time: 5e9}})
	f := ComputeFigures(h)
	if f.Sends != 5 || f.SendsOK != 4 || f.SendsInfo != 1 {
		t.Fatalf("counts %+v", f)
	}
	if f.MaxAckGap != 5 || f.MaxAckGapAt != 2 {
		t.Fatalf("max gap %v at %v, want 5s at 2s", f.MaxAckGap, f.MaxAckGapAt)
	}
	if len(f.Windows) != 1 || f.Windows[0].AckGap != 5 {
		t.Fatalf("windows %+v", f.Windows)
	}
}

// Idle time after the last send settled, while the workload phase winds
// down, is not an ack gap (a 40 s run once reported a 42 s "gap" at 40 s).
func TestFiguresIgnoreWindDown(t *testing.T) {
	h := &history.History{
		Phases: []history.Event{{Time: 0, F: history.PhaseWorkload}, {Time: 82e9, F: history.PhaseRecovery}},
		Events: []history.Event{{Time: 90e9}},
	}
	for _, t := range []int64{1e9, 2e9, 3e9, 40e9} {
		h.Ops = append(h.Ops, history.Op{F: history.FSend, Invoke: history.Event{Time: t - 1e8}, Complete: history.Event{Type: history.TypeOK, Time: t}})
	}
	f := ComputeFigures(h)
	if f.MaxAckGap != 37 || f.MaxAckGapAt != 3 {
		t.Fatalf("max gap %v at %v, want 37s at 3s (not the 42s wind-down after 40s)", f.MaxAckGap, f.MaxAckGapAt)
	}
	// A send in flight across a stall still counts up to its completion.
	h.Ops = append(h.Ops, history.Op{F: history.FSend, Invoke: history.Event{Time: 39.95e9}, Complete: history.Event{Type: history.TypeInfo, Time: 80e9}})
	if f := ComputeFigures(h); f.MaxAckGap != 40 || f.MaxAckGapAt != 40 {
		t.Fatalf("max gap %v at %v, want 40s at 40s (the stalled send)", f.MaxAckGap, f.MaxAckGapAt)
	}
}

func TestAimAtWorkload(t *testing.T) {
	s := nemesis.Generate(3, []string{"partition-leader", "kill"}, 2*time.Minute, 5*time.Second, 5*time.Second)
	w := workload.DefaultConfig("x:1")
	aimAtWorkload(s, w, seed.Rand(3, "nemesis/leaders"))
	leaders := 0
	for _, st := range s.Steps {
		if st.Fault != "partition-leader" {
			continue
		}
		leaders++
		if !strings.HasPrefix(st.Select, "leader:"+w.Topic+"/") {
			t.Errorf("step %+v not aimed at the workload topic", st)
		}
	}
	if leaders == 0 {
		t.Fatal("no partition-leader step generated")
	}
	if _, err := nemesis.Parse(s.Compact()); err != nil {
		t.Fatalf("aimed schedule does not parse: %v", err)
	}
}
