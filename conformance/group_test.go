package conformance

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// groupSessionTimeout is Kafka's minimum (group.min.session.timeout.ms
// default): the shortest time after which a silent member is evicted.
const groupSessionTimeout = 6 * time.Second

// errSevered is what a severed member's dials fail with.
var errSevered = errors.New("conformance: member network severed")

// severableDialer lets a test cut a client off the network, as if its
// process had died: open connections close and new dials fail.
type severableDialer struct {
	mu    sync.Mutex
	cut   bool
	conns []net.Conn
}

func (s *severableDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cut {
		return nil, errSevered
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr)
	if err == nil {
		s.conns = append(s.conns, c)
	}
	return c, err
}

func (s *severableDialer) sever() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cut = true
	for _, c := range s.conns {
		_ = c.Close()
	}
}

// tp names a partition of the test topic.
type tpo struct {
	partition int32
	offset    int64
}

// consumedLog records which member saw which record.
type consumedLog struct {
	mu   sync.Mutex
	seen map[tpo]map[string]bool // record -> member names
}

func (l *consumedLog) add(member string, r *kgo.Record) {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := tpo{r.Partition, r.Offset}
	if l.seen[k] == nil {
		l.seen[k] = map[string]bool{}
	}
	l.seen[k][member] = true
}

// groupMember is one kgo group consumer with its own network.
type groupMember struct {
	name string
	cl   *kgo.Client
	net  *severableDialer
	done chan struct{}
}

func startMember(t *testing.T, ctx context.Context, tg *target, group, topic string, balancer kgo.GroupBalancer, name string, log *consumedLog) *groupMember {
	t.Helper()
	m := &groupMember{name: name, net: &severableDialer{}, done: make(chan struct{})}
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(tg.Bootstrap),
		kgo.ClientID(name),
		kgo.Dialer(m.net.DialContext),
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topic),
		kgo.Balancers(balancer),
		kgo.SessionTimeout(groupSessionTimeout),
		kgo.HeartbeatInterval(500*time.Millisecond),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(500*time.Millisecond),
		kgo.AutoCommitInterval(time.Second),
	)
	if err != nil {
		t.Fatalf("member %s: %v", name, err)
	}
	m.cl = cl
	go func() {
		defer close(m.done)
		for ctx.Err() == nil {
			fs := cl.PollFetches(ctx)
			if fs.IsClientClosed() {
				return
			}
			fs.EachRecord(func(r *kgo.Record) { log.add(name, r) })
			if fs.NumRecords() == 0 && len(fs.Errors()) > 0 {
				// A severed member fails fast; do not spin.
				time.Sleep(100 * time.Millisecond)
			}
		}
	}()
	return m
}

// leave closes the member cleanly (LeaveGroup) and waits for its loop.
func (m *groupMember) leave() {
	m.cl.Close()
	<-m.done
}

// waitAssignment waits until the group is Stable with exactly the named
// members and every partition of topic owned by exactly one of them.
func waitAssignment(t *testing.T, ctx context.Context, adm *kadm.Client, group, topic string, partitions int32, members ...string) {
	t.Helper()
	eventually(t, ctx, fmt.Sprintf("group %s stable with members %v owning all %d partitions once", group, members, partitions), func() error {
		dgs, err := adm.DescribeGroups(ctx, group)
		if err != nil {
			return err
		}
		dg, err := dgs.On(group, nil)
		if err != nil {
			return err
		}
		if dg.Err != nil {
			return dg.Err
		}
		if dg.State != "Stable" {
			return fmt.Errorf("state %s", dg.State)
		}
		var names []string
		owner := map[int32]string{}
		for _, m := range dg.Members {
			names = append(names, m.ClientID)
			a, ok := m.Assigned.AsConsumer()
			if !ok {
				return fmt.Errorf("member %s: assignment not decodable", m.ClientID)
			}
			for _, at := range a.Topics {
				if at.Topic != topic {
					return fmt.Errorf("member %s assigned foreign topic %s", m.ClientID, at.Topic)
				}
				for _, p := range at.Partitions {
					if prev, dup := owner[p]; dup {
						return fmt.Errorf("partition %d owned by both %s and %s", p, prev, m.ClientID)
					}
					owner[p] = m.ClientID
				}
			}
		}
		sort.Strings(names)
		want := append([]string(nil), members...)
		sort.Strings(want)
		if strings.Join(names, ",") != strings.Join(want, ",") {
			return fmt.Errorf("members %v", names)
		}
		for p := range partitions {
			if _, ok := owner[p]; !ok {
				return fmt.Errorf("partition %d unowned (owners %v)", p, owner)
			}
		}
		if len(owner) != int(partitions) {
			return fmt.Errorf("owners of unknown partitions: %v", owner)
		}
		return nil
	})
}

// TestConsumerGroupMembership: three members split a topic's partitions;
// one leaves cleanly, one dies (network severed, session expires); the
// survivors take over and every produced record is consumed by a live
// member or was committed before the death.
func TestConsumerGroupMembership(t *testing.T) {
	tg := newTarget(t, nil)
	for _, bal := range []struct {
		name string
		b    kgo.GroupBalancer
	}{
		{"cooperative-sticky", kgo.CooperativeStickyBalancer()},
		{"range", kgo.RangeBalancer()},
	} {
		t.Run(bal.name, func(t *testing.T) {
			t.Parallel()
			groupMembership(t, tg, bal.b)
		})
	}
}

func groupMembership(t *testing.T, tg *target, balancer kgo.GroupBalancer) {
	const partitions = 6
	ctx := testCtx(t, 150*time.Second)
	topic := tg.createTopic(ctx, partitions, nil)
	group := uniqueName(t, "g")
	adm := tg.admin()
	prod := tg.client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	log := &consumedLog{seen: map[tpo]map[string]bool{}}
	var produced []tpo
	produce := func(phase int) {
		t.Helper()
		var recs []*kgo.Record
		for p := range int32(partitions) {
			for i := range 20 {
				recs = append(recs, &kgo.Record{Topic: topic, Partition: p, Value: fmt.Appendf(nil, "phase%d-%d", phase, i)})
			}
		}
		res := prod.ProduceSync(ctx, recs...)
		if err := res.FirstErr(); err != nil {
			t.Fatalf("produce phase %d: %v", phase, err)
		}
		for _, r := range res {
			produced = append(produced, tpo{r.Record.Partition, r.Record.Offset})
		}
	}
	// covered reports the first produced record no acceptable member saw.
	covered := func(ok func(k tpo, by map[string]bool) bool) error {
		log.mu.Lock()
		defer log.mu.Unlock()
		for _, k := range produced {
			if !ok(k, log.seen[k]) {
				return fmt.Errorf("partition %d offset %d not consumed (seen by %v)", k.partition, k.offset, log.seen[k])
			}
		}
		return nil
	}

	m1 := startMember(t, ctx, tg, group, topic, balancer, "m1", log)
	m2 := startMember(t, ctx, tg, group, topic, balancer, "m2", log)
	m3 := startMember(t, ctx, tg, group, topic, balancer, "m3", log)
	t.Cleanup(func() {
		m1.cl.Close()
		m3.cl.Close()
		// The severed member cannot leave; do not wait for its retries.
		go m2.cl.Close()
	})
	waitAssignment(t, ctx, adm, group, topic, partitions, "m1", "m2", "m3")

	produce(1)
	eventually(t, ctx, "phase 1 consumed", func() error {
		return covered(func(_ tpo, by map[string]bool) bool { return len(by) > 0 })
	})

	// A clean leave: the other two take over at once.
	m3.leave()
	waitAssignment(t, ctx, adm, group, topic, partitions, "m1", "m2")
	produce(2)
	eventually(t, ctx, "phase 2 consumed", func() error {
		return covered(func(_ tpo, by map[string]bool) bool { return len(by) > 0 })
	})

	// A death: m2 goes silent; after the session timeout m1 owns all.
	m2.net.sever()
	produce(3)
	waitAssignment(t, ctx, adm, group, topic, partitions, "m1")
	// m2 can commit nothing any more, so the group's commits now bound
	// what m2 alone may have consumed.
	offs, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		t.Fatalf("fetch offsets: %v", err)
	}
	committedAfterDeath := map[int32]int64{}
	offs.Each(func(o kadm.OffsetResponse) { committedAfterDeath[o.Partition] = o.At })
	eventually(t, ctx, "every record consumed by a live member or committed before m2 died", func() error {
		return covered(func(k tpo, by map[string]bool) bool {
			if by["m1"] || by["m3"] {
				return true
			}
			return by["m2"] && k.offset < committedAfterDeath[k.partition]
		})
	})

	// The survivor's commits reach the end of every partition.
	if err := m1.cl.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("commit: %v", err)
	}
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	offs, err = adm.FetchOffsets(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	for p := range int32(partitions) {
		end, _ := ends.Lookup(topic, p)
		o, ok := offs.Lookup(topic, p)
		if !ok || o.Err != nil || o.At != end.Offset {
			t.Errorf("partition %d: committed %d (err %v, present %v), want the end offset %d", p, o.At, o.Err, ok, end.Offset)
		}
	}
}
