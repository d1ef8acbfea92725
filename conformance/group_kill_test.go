package conformance

import (
	"bufio"
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// kcatMember is one consumer-group member running as its own process, so
// the test can kill it with SIGKILL like a crashed application.
type kcatMember struct {
	name string
	cmd  *exec.Cmd
	mu   sync.Mutex
	seen map[string]bool // "partition/offset"
	done chan struct{}
}

func startKcatMember(t *testing.T, ctx context.Context, kcat, bootstrap, group, topic, name string) *kcatMember {
	t.Helper()
	cmd := exec.CommandContext(ctx, kcat, "-b", bootstrap, "-G", group, topic, "-u", "-q",
		"-X", "auto.offset.reset=earliest", "-X", "session.timeout.ms=6000",
		"-X", "heartbeat.interval.ms=500", "-X", "partition.assignment.strategy=range",
		"-f", "%p/%o\n")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	m := &kcatMember{name: name, cmd: cmd, seen: map[string]bool{}, done: make(chan struct{})}
	go func() {
		defer close(m.done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			m.mu.Lock()
			m.seen[strings.TrimSpace(sc.Text())] = true
			m.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return m
}

func (m *kcatMember) consumed() map[string]bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]bool, len(m.seen))
	for k := range m.seen {
		out[k] = true
	}
	return out
}

// TestConsumerGroupSurvivesKilledAndLeavingMembers: three consumer processes
// (librdkafka) share a 6-partition topic. One is killed with SIGKILL (no
// LeaveGroup: the coordinator must notice by session timeout), then another
// leaves gracefully (SIGTERM: LeaveGroup); after each, the survivors take
// over the orphaned partitions and every record produced is consumed.
func TestConsumerGroupSurvivesKilledAndLeavingMembers(t *testing.T) {
	kcat := stockLookPath(t, "HIGHWATER_KCAT", "kcat", "kafkacat")
	tg := newTarget(t, nil)
	ctx := testCtx(t, 150*time.Second)
	topic := tg.createTopic(ctx, 6, nil)
	group := uniqueName(t, "g")
	prod := tg.client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	want := map[string]bool{}
	var roundKeys map[string]bool // the keys of the latest round
	produceRound := func(round int) {
		roundKeys = map[string]bool{}
		var recs []*kgo.Record
		for p := int32(0); p < 6; p++ {
			for i := 0; i < 50; i++ {
				recs = append(recs, &kgo.Record{Topic: topic, Partition: p, Value: []byte(fmt.Sprintf("r%d-%d", round, i))})
			}
		}
		res := prod.ProduceSync(ctx, recs...)
		if err := res.FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
		for _, r := range res {
			k := strconv.Itoa(int(r.Record.Partition)) + "/" + strconv.FormatInt(r.Record.Offset, 10)
			want[k], roundKeys[k] = true, true
		}
	}
	members := []*kcatMember{
		startKcatMember(t, ctx, kcat, tg.Bootstrap, group, topic, "a"),
		startKcatMember(t, ctx, kcat, tg.Bootstrap, group, topic, "b"),
		startKcatMember(t, ctx, kcat, tg.Bootstrap, group, topic, "c"),
	}
	allConsumed := func(what string, ms ...*kcatMember) {
		eventually(t, ctx, what, func() error {
			got := map[string]bool{}
			for _, m := range ms {
				for k := range m.consumed() {
					got[k] = true
				}
			}
			missing := 0
			for k := range want {
				if !got[k] {
					missing++
				}
			}
			if missing > 0 {
				return fmt.Errorf("%d of %d records not consumed yet", missing, len(want))
			}
			return nil
		})
	}

	eventually(t, ctx, "a stable group of three members", func() error {
		described, err := tg.admin().DescribeGroups(ctx, group)
		if err != nil {
			return err
		}
		g := described[group]
		if g.Err != nil || g.State != "Stable" || len(g.Members) != 3 {
			return fmt.Errorf("group %s: state %q, %d members, err %v", group, g.State, len(g.Members), g.Err)
		}
		return nil
	})
	produceRound(0)
	allConsumed("three members consume everything", members...)
	busy := 0
	for _, m := range members {
		if len(m.consumed()) > 0 {
			busy++
		}
	}
	if busy < 2 {
		t.Errorf("only %d of 3 members consumed anything: the partitions were not shared", busy)
	}

	// SIGKILL member a: no LeaveGroup, the session timeout must evict it.
	if err := members[0].cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-members[0].done
	produceRound(1)
	allConsumed("b and c take over after a is killed", members[0], members[1], members[2])
	for k := range roundKeys {
		if !members[1].consumed()[k] && !members[2].consumed()[k] {
			t.Fatalf("record %s, produced after a was killed, was not consumed by b or c", k)
		}
	}

	// SIGTERM member b: kcat leaves the group cleanly.
	if err := members[1].cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-members[1].done
	produceRound(2)
	allConsumed("c consumes everything after b leaves", members[0], members[1], members[2])
	// c alone is left: it must own all six partitions and have read the round.
	for k := range roundKeys {
		if !members[2].consumed()[k] {
			t.Fatalf("record %s, produced after b left, was not consumed by c", k)
		}
	}
}
