package controller

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"

	"github.com/highwater-io/highwater/broker/internal/metadata"
)

// TestScripts runs testdata/*.txt. Regenerate expectations with:
// go test ./broker/internal/controller -run TestScripts -rewrite
//
// Commands (times are on a script clock starting at 0):
//
//	controller [session-timeout=ms] [seed=n] [unclean] [no-rebalance] [rebalance-interval=ms] [rf=n]
//	register id=n rack=r [incarnation=n] [previous-epoch=n]   (clean-shutdown marker's epoch; none: unclean)
//	heartbeat id=n[,m...] [epoch=n] [caught-up] [want-fence] [want-shutdown]
//	tick ms=k                          advance the clock by k, then Tick
//	create-topic name=t [partitions=n] [rf=n] [config=k=v;k=v] [assign=1,2,3/2,3,1]
//	create-partitions topic=t count=n
//	delete-topic name=t
//	alter-config topic=t|broker= [set=k=v] [delete=k]
//	alter-partition broker=n topic=t partition=p isr=1,2 [leader-epoch=n] [partition-epoch=n] [isr-epochs=1:3,2:4]
//	elect type=preferred|unclean [topic=t partition=p]
//	failover                           a new active controller over the image
//	show
//
// After every command the harness checks the image invariants, the
// transition invariants, and that a follower replaying the encoded records
// reaches the same image.
func TestScripts(t *testing.T) {
	paths, _ := filepath.Glob("testdata/*.txt")
	if len(paths) == 0 {
		t.Fatal("no scripts")
	}
	for _, path := range paths {
		t.Run(filepath.Base(path), func(t *testing.T) {
			var h *harness
			datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
				if d.Cmd == "controller" {
					h = newHarness(t, d)
					return "ok\n"
				}
				if h == nil {
					t.Fatalf("%s: no controller yet", d.Pos)
				}
				return h.run(t, d)
			})
		})
	}
}

type harness struct {
	c        *Controller
	follower metadata.Image
	nowMs    int64
	names    map[metadata.UUID]string
	out      strings.Builder
}

func newHarness(t *testing.T, d *datadriven.TestData) *harness {
	cfg := DefaultConfig()
	cfg.Seed = 1
	for _, a := range d.CmdArgs {
		switch a.Key {
		case "session-timeout":
			cfg.SessionTimeoutMs = int64(atoi(t, a.Vals[0]))
		case "seed":
			cfg.Seed = uint64(atoi(t, a.Vals[0]))
		case "unclean":
			cfg.UncleanLeaderElectionEnable = true
		case "no-rebalance":
			cfg.AutoLeaderRebalanceEnable = false
		case "rebalance-interval":
			cfg.LeaderImbalanceCheckIntervalMs = int64(atoi(t, a.Vals[0]))
		case "rf":
			cfg.DefaultReplicationFactor = int16(atoi(t, a.Vals[0]))
		default:
			t.Fatalf("%s: unknown argument %s", d.Pos, a.Key)
		}
	}
	c, err := New(cfg, metadata.Image{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	return &harness{c: c, names: map[metadata.UUID]string{}}
}

func atoi(t *testing.T, s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("bad number %q", s)
	}
	return n
}

func ids(t *testing.T, s string) []int32 {
	var out []int32
	for _, f := range strings.Split(s, ",") {
		if f != "" {
			out = append(out, int32(atoi(t, f)))
		}
	}
	return out
}

func arg(d *datadriven.TestData, key string) (string, bool) {
	for _, a := range d.CmdArgs {
		if a.Key == key {
			if len(a.Vals) == 0 {
				return "", true
			}
			return strings.Join(a.Vals, ","), true
		}
	}
	return "", false
}

func (h *harness) printf(format string, args ...any) { fmt.Fprintf(&h.out, format+"\n", args...) }

func (h *harness) run(t *testing.T, d *datadriven.TestData) string {
	h.out.Reset()
	before := h.c.Image()
	var recs []metadata.Record
	var err error
	switch d.Cmd {
	case "failover":
		// A new active controller over the same image: fresh sessions,
		// no soft state.
		c, ferr := New(h.c.cfg, h.c.Image(), h.nowMs)
		if ferr != nil {
			t.Fatalf("%s: %v", d.Pos, ferr)
		}
		h.c = c
	case "register":
		recs, err = h.register(t, d)
	case "heartbeat":
		recs, err = h.heartbeat(t, d)
	case "tick":
		ms, _ := arg(d, "ms")
		h.nowMs += int64(atoi(t, ms))
		recs, err = h.c.Tick(h.nowMs)
	case "create-topic":
		recs, err = h.createTopic(t, d)
	case "create-partitions":
		topic, _ := arg(d, "topic")
		count, _ := arg(d, "count")
		var errs []error
		errs, recs, err = h.c.CreatePartitions([]CreatePartitions{{Topic: topic, Count: int32(atoi(t, count))}})
		h.printf("create-partitions %s: %s", topic, Name(errs[0]))
	case "delete-topic":
		name, _ := arg(d, "name")
		var errs []error
		errs, recs, err = h.c.DeleteTopics([]string{name}, nil)
		h.printf("delete-topic %s: %s", name, Name(errs[0]))
	case "alter-config":
		recs, err = h.alterConfig(d)
	case "alter-partition":
		recs, err = h.alterPartition(t, d)
	case "elect":
		recs, err = h.elect(t, d)
	case "show":
		h.show()
	default:
		t.Fatalf("%s: unknown command %s", d.Pos, d.Cmd)
	}
	if err != nil {
		h.printf("error: %s (%v)", Name(err), err)
	}
	h.check(t, d, before, recs)
	var b strings.Builder
	for _, r := range recs {
		fmt.Fprintf(&b, "%s\n", h.format(r))
	}
	b.WriteString(h.out.String())
	if b.Len() == 0 {
		return "ok\n"
	}
	return b.String()
}

// check verifies invariants and that the records, encoded and decoded,
// take a follower to the controller's image.
func (h *harness) check(t *testing.T, d *datadriven.TestData, before metadata.Image, recs []metadata.Record) {
	after := h.c.Image()
	if err := metadata.CheckImage(after); err != nil {
		t.Fatalf("%s: %v", d.Pos, err)
	}
	if err := metadata.CheckTransition(before, after); err != nil {
		t.Fatalf("%s: %v", d.Pos, err)
	}
	if err := checkControllerInvariants(after); err != nil {
		t.Fatalf("%s: %v", d.Pos, err)
	}
	decoded, err := metadata.DecodeBatch(metadata.EncodeBatch(recs))
	if err != nil {
		t.Fatalf("%s: %v", d.Pos, err)
	}
	for _, r := range decoded {
		if h.follower, err = metadata.Apply(h.follower, r); err != nil {
			t.Fatalf("%s: follower: %v", d.Pos, err)
		}
	}
	if !metadata.Equal(h.follower, after) {
		t.Fatalf("%s: follower image differs from the controller's", d.Pos)
	}
	for _, tp := range after.Topics() {
		h.names[tp.ID] = tp.Name
	}
}

func (h *harness) format(r metadata.Record) string {
	switch r := r.(type) {
	case metadata.TopicRecord:
		h.names[r.TopicID] = r.Name
		return fmt.Sprintf("topic %s", r.Name)
	case metadata.PartitionRecord:
		return fmt.Sprintf("partition %s-%d replicas=%v isr=%v leader=%d", h.names[r.TopicID], r.PartitionID, r.Replicas, r.ISR, r.Leader)
	case metadata.PartitionChangeRecord:
		s := fmt.Sprintf("partition-change %s-%d", h.names[r.TopicID], r.PartitionID)
		if r.Leader != metadata.NoLeaderChange {
			s += fmt.Sprintf(" leader=%d", r.Leader)
		}
		if r.ISR != nil {
			s += fmt.Sprintf(" isr=%v", r.ISR)
		}
		if r.MarkUncleanISR {
			s += " unclean-isr"
		}
		return s
	case metadata.RemoveTopicRecord:
		return "remove-topic " + h.names[r.TopicID]
	}
	return r.String()
}

func (h *harness) register(t *testing.T, d *datadriven.TestData) ([]metadata.Record, error) {
	id, _ := arg(d, "id")
	rack, _ := arg(d, "rack")
	inc, _ := arg(d, "incarnation")
	reg := Registration{BrokerID: int32(atoi(t, id)), Rack: rack,
		Endpoints: []metadata.Endpoint{{Name: "PLAINTEXT", Host: "127.0.0.1", Port: int32(9091 + atoi(t, id))}}}
	if inc != "" {
		reg.IncarnationID[0] = byte(atoi(t, inc))
	}
	reg.PreviousBrokerEpoch = NoPreviousBrokerEpoch
	if v, ok := arg(d, "previous-epoch"); ok {
		reg.PreviousBrokerEpoch = int64(atoi(t, v))
	}
	epoch, recs, err := h.c.RegisterBroker(reg, h.nowMs)
	if err == nil {
		h.printf("registered %d epoch=%d", reg.BrokerID, epoch)
	}
	return recs, err
}

func (h *harness) heartbeat(t *testing.T, d *datadriven.TestData) ([]metadata.Record, error) {
	idArg, _ := arg(d, "id")
	var all []metadata.Record
	for _, id := range ids(t, idArg) {
		b, _ := h.c.Image().Broker(id)
		hb := Heartbeat{BrokerID: id, BrokerEpoch: b.Epoch}
		if e, ok := arg(d, "epoch"); ok {
			hb.BrokerEpoch = int64(atoi(t, e))
		}
		_, hb.CaughtUp = arg(d, "caught-up")
		_, hb.WantFence = arg(d, "want-fence")
		_, hb.WantShutDown = arg(d, "want-shutdown")
		reply, recs, err := h.c.Heartbeat(hb, h.nowMs)
		if err != nil {
			h.printf("heartbeat %d: %s", id, Name(err))
			continue
		}
		all = append(all, recs...)
		h.printf("heartbeat %d: fenced=%t shutting-down=%t shut-down-now=%t", id, reply.IsFenced, reply.InControlledShutdown, reply.ShouldShutDown)
	}
	return all, nil
}

func (h *harness) createTopic(t *testing.T, d *datadriven.TestData) ([]metadata.Record, error) {
	name, _ := arg(d, "name")
	req := CreateTopic{Name: name, NumPartitions: -1, ReplicationFactor: -1}
	if v, ok := arg(d, "partitions"); ok {
		req.NumPartitions = int32(atoi(t, v))
	}
	if v, ok := arg(d, "rf"); ok {
		req.ReplicationFactor = int16(atoi(t, v))
	}
	if v, ok := arg(d, "config"); ok {
		req.Configs = map[string]string{}
		for _, kv := range strings.Split(v, ";") {
			k, val, _ := strings.Cut(kv, "=")
			req.Configs[k] = val
		}
	}
	if v, ok := arg(d, "assign"); ok {
		for _, p := range strings.Split(v, "/") {
			req.Assignments = append(req.Assignments, ids(t, p))
		}
	}
	results, recs, err := h.c.CreateTopics([]CreateTopic{req})
	if err == nil {
		r := results[0]
		h.printf("create-topic %s: %s partitions=%d rf=%d", r.Name, Name(r.Err), r.NumPartitions, r.ReplicationFactor)
	}
	return recs, err
}

func (h *harness) alterConfig(d *datadriven.TestData) ([]metadata.Record, error) {
	req := AlterConfig{}
	if v, ok := arg(d, "topic"); ok {
		req.Resource = metadata.ConfigResource{Type: metadata.ResourceTopic, Name: v}
	} else {
		v, _ := arg(d, "broker")
		req.Resource = metadata.ConfigResource{Type: metadata.ResourceBroker, Name: v}
	}
	if v, ok := arg(d, "set"); ok {
		k, val, _ := strings.Cut(v, "=")
		req.Ops = append(req.Ops, ConfigOp{Key: k, Value: val})
	}
	if v, ok := arg(d, "delete"); ok {
		req.Ops = append(req.Ops, ConfigOp{Key: v, Delete: true})
	}
	errs, recs, err := h.c.AlterConfigs([]AlterConfig{req})
	if err == nil {
		h.printf("alter-config: %s", Name(errs[0]))
	}
	return recs, err
}

func (h *harness) alterPartition(t *testing.T, d *datadriven.TestData) ([]metadata.Record, error) {
	bArg, _ := arg(d, "broker")
	topic, _ := arg(d, "topic")
	pArg, _ := arg(d, "partition")
	isrArg, _ := arg(d, "isr")
	broker, pid := int32(atoi(t, bArg)), int32(atoi(t, pArg))
	img := h.c.Image()
	tp, _ := img.TopicByName(topic)
	p, _ := img.Partition(tp.ID, pid)
	item := AlterPartitionItem{TopicID: tp.ID, PartitionID: pid, LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch, ISR: ids(t, isrArg)}
	if v, ok := arg(d, "leader-epoch"); ok {
		item.LeaderEpoch = int32(atoi(t, v))
	}
	if v, ok := arg(d, "partition-epoch"); ok {
		item.PartitionEpoch = int32(atoi(t, v))
	}
	if v, ok := arg(d, "isr-epochs"); ok { // id:epoch,id:epoch (KIP-903)
		item.ISREpochs = map[int32]int64{}
		for _, kv := range strings.Split(v, ",") {
			id, e, _ := strings.Cut(kv, ":")
			item.ISREpochs[int32(atoi(t, id))] = int64(atoi(t, e))
		}
	}
	b, _ := img.Broker(broker)
	results, recs, err := h.c.AlterPartition(broker, b.Epoch, []AlterPartitionItem{item})
	if err == nil {
		r := results[0]
		if r.Err != nil {
			h.printf("alter-partition %s-%d: %s", topic, pid, Name(r.Err))
		} else {
			h.printf("alter-partition %s-%d: NONE leader=%d epoch=%d pepoch=%d isr=%v", topic, pid, r.Leader, r.LeaderEpoch, r.PartitionEpoch, r.ISR)
		}
	}
	return recs, err
}

func (h *harness) elect(t *testing.T, d *datadriven.TestData) ([]metadata.Record, error) {
	typArg, _ := arg(d, "type")
	typ := ElectPreferred
	if typArg == "unclean" {
		typ = ElectUnclean
	}
	var parts []TopicPartition
	if topic, ok := arg(d, "topic"); ok {
		p, _ := arg(d, "partition")
		parts = []TopicPartition{{Topic: topic, Partition: int32(atoi(t, p))}}
	}
	results, recs, err := h.c.ElectLeaders(typ, parts)
	for _, r := range results {
		h.printf("elect %s-%d: %s", r.Topic, r.Partition, Name(r.Err))
	}
	return recs, err
}

func (h *harness) show() {
	img := h.c.Image()
	for _, b := range img.Brokers() {
		state := "active"
		switch {
		case b.Fenced:
			state = "fenced"
		case b.InControlledShutdown:
			state = "shutting-down"
		}
		h.printf("broker %d rack=%s epoch=%d %s", b.ID, b.Rack, b.Epoch, state)
	}
	for _, tp := range img.Topics() {
		for i, p := range tp.Partitions {
			unclean := ""
			if p.UncleanISR {
				unclean = " unclean-isr"
			}
			h.printf("%s-%d replicas=%v isr=%v leader=%d epoch=%d pepoch=%d%s", tp.Name, i, p.Replicas, p.ISR, p.Leader, p.LeaderEpoch, p.PartitionEpoch, unclean)
		}
	}
	leaders := map[int32]int{}
	for _, tp := range img.Topics() {
		for _, p := range tp.Partitions {
			leaders[p.Leader]++
		}
	}
	var parts []string
	for _, b := range img.Brokers() {
		parts = append(parts, fmt.Sprintf("%d:%d", b.ID, leaders[b.ID]))
	}
	if n := leaders[metadata.NoLeader]; n > 0 {
		parts = append(parts, fmt.Sprintf("none:%d", n))
	}
	h.printf("leaders %s", strings.Join(parts, " "))
}

// checkControllerInvariants are the safety properties of the decisions
// (beyond metadata's structural ones): no inactive broker leads; an
// inactive broker is in an ISR only as its last member; a leaderless
// partition has no active ISR member unless its ISR is unclean (KIP-966).
func checkControllerInvariants(img metadata.Image) error {
	for _, tp := range img.Topics() {
		for i, p := range tp.Partitions {
			if p.Leader != metadata.NoLeader && !active(img, p.Leader) {
				return fmt.Errorf("%s-%d: inactive broker %d leads", tp.Name, i, p.Leader)
			}
			for _, r := range p.ISR {
				if !active(img, r) && len(p.ISR) > 1 {
					if _, registered := img.Broker(r); registered {
						return fmt.Errorf("%s-%d: inactive broker %d in isr %v", tp.Name, i, r, p.ISR)
					}
				}
			}
			if p.Leader == metadata.NoLeader && !p.UncleanISR && slices.ContainsFunc(p.ISR, func(r int32) bool { return active(img, r) }) {
				return fmt.Errorf("%s-%d: leaderless with an active isr member %v", tp.Name, i, p.ISR)
			}
		}
	}
	return nil
}
