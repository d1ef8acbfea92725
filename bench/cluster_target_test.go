package bench

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestClusterTargetReference runs a small acks=all workload against a
// fresh 3-node reference cluster: the topic gets RF 3 (min(3, nodes)),
// every record is read back, and the resource figures cover all three
// node processes.
func TestClusterTargetReference(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node cluster")
	}
	target := ClusterTarget{Impl: "reference", Nodes: 3, Binary: highwaterBinary(t), WorkDir: t.TempDir()}
	if target.Name() != "reference-3" {
		t.Fatalf("name %q", target.Name())
	}
	w := DefaultWorkload()
	w.Records, w.Warmup, w.Acks = 20000, 0, "all"
	w.BatchMaxBytes = 64 << 10
	w.IdleTimeout = time.Minute
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	res, err := RunOnce(ctx, target, w, 1, RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.ReplicationFactor != 3 || res.Nodes != 3 {
		t.Fatalf("RF %d on %d nodes, want RF 3 on 3", res.ReplicationFactor, res.Nodes)
	}
	if res.Produce.TotalRecords != 20000 || res.Consume.Records != 20000 {
		t.Fatalf("produced %d, consumed %d, want 20000 each", res.Produce.TotalRecords, res.Consume.Records)
	}
	if !res.Measured || res.Broker.Processes < 3 || res.Broker.PeakRSSBytes <= 0 {
		t.Fatalf("resources %+v measured=%v, want three node processes", res.Broker, res.Measured)
	}
	// RF 3: every byte is written on three nodes.
	if wb := res.Broker.WriteBytes; wb >= 0 && wb < 3*20000*1024 {
		t.Logf("written %d bytes (page cache may hold some; not asserted)", wb)
	}
}

func TestEffectiveRF(t *testing.T) {
	type nodes struct{ addrInstance }
	cases := []struct {
		rf    int16
		inst  Instance
		want  int16
		label string
	}{
		{0, &clusterInstance{nodes: 3}, 3, "auto on 3 nodes"},
		{0, &clusterInstance{nodes: 5}, 3, "auto on 5 nodes"},
		{0, &procInstance{}, 1, "auto on one broker"},
		{3, &procInstance{}, 1, "capped at one broker"},
		{2, &clusterInstance{nodes: 3}, 2, "explicit"},
		{0, addrInstance("x:1"), 1, "address, auto"},
		{3, addrInstance("x:1"), 3, "address, explicit"},
	}
	for _, c := range cases {
		w := DefaultWorkload()
		w.ReplicationFactor = c.rf
		if got := effectiveRF(w, c.inst); got != c.want {
			t.Errorf("%s: RF %d, want %d", c.label, got, c.want)
		}
	}
}

func TestPIDsMentioning(t *testing.T) {
	root := t.TempDir()
	proc := func(pid, ppid, cmd string) {
		dir := filepath.Join(root, pid)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, "cmdline"), []byte(strings.ReplaceAll(cmd, " ", "\x00")), 0o644)
		os.WriteFile(filepath.Join(dir, "stat"), []byte(pid+" (x y) S "+ppid+" 0 0 0 0 0 0 0 0 0 0 0 0 0"), 0o644)
	}
	proc("10", "1", "highwater broker --config /tmp/run/node-1/server.properties")
	proc("11", "1", "java -cp lib kafka.Kafka /tmp/run/node-2/server.properties")
	proc("12", "11", "sh -c true /tmp/run/node-2/x") // child of a match: counted through 11
	proc("13", "1", "highwater broker --config /tmp/other/server.properties")
	got := pidsMentioning(root, "/tmp/run/")
	if len(got) != 2 || got[0] != 10 || got[1] != 11 {
		t.Fatalf("pids %v, want [10 11]", got)
	}
}

func TestTargetNodeSeeds(t *testing.T) {
	if got := seedList(" a:1, b:2,,c:3 "); strings.Join(got, "|") != "a:1|b:2|c:3" {
		t.Fatalf("seeds %q", got)
	}
}

func TestWriteMarkdown(t *testing.T) {
	runs := []RunResult{
		{Target: "reference-3", Round: 1, ReplicationFactor: 3, Nodes: 3, Produce: ProduceResult{TotalRecords: 10, Records: 10, MBPerSec: 100}, Consume: ConsumeResult{MBPerSec: 200}},
		{Target: "kafka-3", Round: 1, ReplicationFactor: 3, Nodes: 3, Produce: ProduceResult{TotalRecords: 10, Records: 10, MBPerSec: 50}, Consume: ConsumeResult{MBPerSec: 400}},
		{Target: "kfake", Round: 1, Err: "boom | bad"},
	}
	rep := NewReport(time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC), DefaultWorkload(), runs)
	var b bytes.Buffer
	if err := rep.WriteMarkdown(&b); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	for _, want := range []string{
		"RF 3,", "| reference-3 | 1 | 100.0 |", "| kafka-3 | 1 | 50.0 |", "| 0.50 |", "| kafka-3 | 1 | 3 | 3 |",
		"| kfake | 0 (1 failed) |", `boom \| bad`,
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}
