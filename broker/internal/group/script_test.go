package group

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// scriptEnv drives one Coordinator from a testdata script with a fake clock
// and an in-memory log. Every command runs the driver loop (Ready → append
// → Advance) the way Service does, so outputs include every answer the
// command released, in order.
type scriptEnv struct {
	t       *testing.T
	cfg     CoordinatorConfig
	c       *Coordinator
	now     time.Time
	log     []KV // durable records, in order
	failing bool // fail the next append
	nextID  int
	out     strings.Builder
}

func newScriptEnv(t *testing.T) *scriptEnv {
	e := &scriptEnv{t: t, now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	e.cfg = DefaultCoordinatorConfig()
	e.cfg.NewMemberID = func(client string) string { e.nextID++; return fmt.Sprintf("%s-%d", client, e.nextID) }
	e.cfg.TopicExists = func(topic string, _ int32) bool { return !strings.HasPrefix(topic, "missing") }
	e.reset()
	return e
}

func (e *scriptEnv) reset() {
	c, err := NewCoordinator(e.cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	e.c = c
}

func (e *scriptEnv) printf(format string, args ...any) { fmt.Fprintf(&e.out, format+"\n", args...) }

func (e *scriptEnv) flush() {
	for e.c.HasReady() {
		recs := e.c.Ready()
		var err error
		if e.failing {
			err, e.failing = fmt.Errorf("injected store failure"), false
		} else {
			e.log = append(e.log, recs...)
		}
		if err != nil {
			e.printf("store: append of %d records failed", len(recs))
		}
		e.c.Advance(err)
	}
}

func TestScripts(t *testing.T) {
	paths, _ := filepath.Glob("testdata/*.txt")
	if len(paths) == 0 {
		t.Fatal("no scripts")
	}
	for _, path := range paths {
		t.Run(filepath.Base(path), func(t *testing.T) {
			e := newScriptEnv(t)
			datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
				e.out.Reset()
				e.run(d)
				e.flush()
				if e.out.Len() == 0 {
					return "ok\n"
				}
				return e.out.String()
			})
		})
	}
}

func arg(d *datadriven.TestData, key, def string) string {
	for _, a := range d.CmdArgs {
		if a.Key == key {
			return strings.Join(a.Vals, ",")
		}
	}
	return def
}

func argList(d *datadriven.TestData, key string) []string {
	v := arg(d, key, "")
	if v == "" {
		return nil
	}
	return strings.Split(v, ",")
}

func argInt(t *testing.T, d *datadriven.TestData, key string, def int64) int64 {
	v := arg(d, key, "")
	if v == "" {
		return def
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		d.Fatalf(t, "bad %s: %v", key, err)
	}
	return n
}

func argDur(t *testing.T, d *datadriven.TestData, key string, def time.Duration) time.Duration {
	v := arg(d, key, "")
	if v == "" {
		return def
	}
	x, err := time.ParseDuration(v)
	if err != nil {
		d.Fatalf(t, "bad %s: %v", key, err)
	}
	return x
}

func optStr(d *datadriven.TestData, key string) *string {
	for _, a := range d.CmdArgs {
		if a.Key == key {
			s := strings.Join(a.Vals, ",")
			return &s
		}
	}
	return nil
}

func errName(code int16) string {
	if code == 0 {
		return "ok"
	}
	return kerr.ErrorForCode(code).(*kerr.Error).Message
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

func (e *scriptEnv) run(d *datadriven.TestData) {
	t := e.t
	switch d.Cmd {
	case "config":
		e.cfg.InitialRebalanceDelay = argDur(t, d, "delay", e.cfg.InitialRebalanceDelay)
		e.cfg.OffsetsRetention = argDur(t, d, "retention", e.cfg.OffsetsRetention)
		e.cfg.OffsetsRetentionCheckInterval = argDur(t, d, "check", e.cfg.OffsetsRetentionCheckInterval)
		e.cfg.MaxGroupSize = int(argInt(t, d, "max-size", int64(e.cfg.MaxGroupSize)))
		e.reset()
	case "tick":
		e.now = e.now.Add(argDur(t, d, "d", 0))
		e.c.Tick(e.now)
	case "fail-store":
		e.failing = true
	case "restart":
		e.reset()
		if err := e.c.Load(e.now, e.log); err != nil {
			e.printf("load: %v", err)
		}
		e.printf("replayed %d records; groups %v", len(e.log), e.c.Groups())
	case "records":
		for _, r := range e.log {
			e.printf("%s", describeRecord(r))
		}
	case "join":
		e.join(d)
	case "sync":
		e.sync(d)
	case "hb":
		req := kmsg.NewPtrHeartbeatRequest()
		req.Version = int16(argInt(t, d, "v", 4))
		req.Group, req.MemberID, req.InstanceID = arg(d, "g", "g"), arg(d, "m", ""), optStr(d, "i")
		req.Generation = int32(argInt(t, d, "gen", -1))
		e.printf("hb %s: %s", req.MemberID, errName(e.c.Heartbeat(e.now, req).ErrorCode))
	case "leave":
		e.leave(d)
	case "commit":
		e.commit(d)
	case "fetch":
		e.fetch(d)
	case "odelete":
		req := kmsg.NewPtrOffsetDeleteRequest()
		req.Group = arg(d, "g", "g")
		for _, tp := range argList(d, "tp") { // topic:partition
			topic, p, _ := strings.Cut(tp, ":")
			n, _ := strconv.Atoi(p)
			req.Topics = append(req.Topics, kmsg.OffsetDeleteRequestTopic{Topic: topic, Partitions: []kmsg.OffsetDeleteRequestTopicPartition{{Partition: int32(n)}}})
		}
		e.c.OffsetDelete(e.now, req, func(r *kmsg.OffsetDeleteResponse) {
			e.printf("odelete %s: %s", req.Group, errName(r.ErrorCode))
			for _, t := range r.Topics {
				for _, p := range t.Partitions {
					e.printf("  %s:%d %s", t.Topic, p.Partition, errName(p.ErrorCode))
				}
			}
		})
	case "delete":
		req := kmsg.NewPtrDeleteGroupsRequest()
		req.Version = 2
		req.Groups = argList(d, "g")
		e.c.DeleteGroups(e.now, req, func(r *kmsg.DeleteGroupsResponse) {
			for _, g := range r.Groups {
				e.printf("delete %s: %s", g.Group, errName(g.ErrorCode))
			}
		})
	case "list":
		req := kmsg.NewPtrListGroupsRequest()
		req.Version = 5
		req.StatesFilter = argList(d, "states")
		for _, g := range e.c.ListGroups(req).Groups {
			e.printf("%s state=%s type=%q", g.Group, g.GroupState, g.ProtocolType)
		}
	case "describe":
		e.describe(d)
	default:
		d.Fatalf(t, "unknown command %q", d.Cmd)
	}
}

func (e *scriptEnv) join(d *datadriven.TestData) {
	t := e.t
	req := kmsg.NewPtrJoinGroupRequest()
	req.Version = int16(argInt(t, d, "v", 9))
	req.Group = arg(d, "g", "g")
	req.MemberID = arg(d, "m", "")
	req.InstanceID = optStr(d, "i")
	req.SessionTimeoutMillis = int32(argInt(t, d, "st", 10000))
	req.RebalanceTimeoutMillis = int32(argInt(t, d, "rt", 30000))
	req.ProtocolType = arg(d, "pt", "consumer")
	md := kmsg.NewConsumerMemberMetadata()
	md.Topics = argList(d, "topics")
	if md.Topics == nil {
		md.Topics = []string{"t"}
	}
	meta := md.AppendTo(nil)
	for _, p := range argList(d, "p") {
		req.Protocols = append(req.Protocols, kmsg.JoinGroupRequestProtocol{Name: p, Metadata: meta})
	}
	if req.Protocols == nil {
		req.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: meta}}
	}
	label := arg(d, "c", "c")
	e.c.JoinGroup(e.now, Client{ID: label, Host: "/127.0.0.1"}, req, func(r *kmsg.JoinGroupResponse) {
		if r.ErrorCode != 0 {
			e.printf("join %s: %s member=%s", label, errName(r.ErrorCode), r.MemberID)
			return
		}
		var ms []string
		for _, m := range r.Members {
			ms = append(ms, m.MemberID)
		}
		skip := ""
		if r.SkipAssignment {
			skip = " skip-assignment"
		}
		e.printf("join %s: ok member=%s gen=%d leader=%s proto=%s members=%v%s", label, r.MemberID, r.Generation, r.LeaderID, deref(r.Protocol), ms, skip)
	})
}

func (e *scriptEnv) sync(d *datadriven.TestData) {
	t := e.t
	req := kmsg.NewPtrSyncGroupRequest()
	req.Version = int16(argInt(t, d, "v", 5))
	req.Group, req.MemberID, req.InstanceID = arg(d, "g", "g"), arg(d, "m", ""), optStr(d, "i")
	req.Generation = int32(argInt(t, d, "gen", -1))
	for _, a := range argList(d, "a") { // member:assignment
		m, x, _ := strings.Cut(a, ":")
		req.GroupAssignment = append(req.GroupAssignment, kmsg.SyncGroupRequestGroupAssignment{MemberID: m, MemberAssignment: []byte(x)})
	}
	id := req.MemberID
	e.c.SyncGroup(e.now, req, func(r *kmsg.SyncGroupResponse) {
		if r.ErrorCode != 0 {
			e.printf("sync %s: %s", id, errName(r.ErrorCode))
			return
		}
		e.printf("sync %s: ok assignment=%q", id, r.MemberAssignment)
	})
}

func (e *scriptEnv) leave(d *datadriven.TestData) {
	req := kmsg.NewPtrLeaveGroupRequest()
	req.Version = int16(argInt(e.t, d, "v", 5))
	req.Group = arg(d, "g", "g")
	if req.Version < 3 {
		req.MemberID = arg(d, "m", "")
	} else {
		for _, m := range argList(d, "m") {
			req.Members = append(req.Members, kmsg.LeaveGroupRequestMember{MemberID: m})
		}
		if inst := optStr(d, "i"); inst != nil {
			req.Members = append(req.Members, kmsg.LeaveGroupRequestMember{InstanceID: inst})
		}
	}
	r := e.c.LeaveGroup(e.now, req)
	e.printf("leave: %s", errName(r.ErrorCode))
	for _, m := range r.Members {
		e.printf("  %s/%s: %s", m.MemberID, deref(m.InstanceID), errName(m.ErrorCode))
	}
}

func (e *scriptEnv) commit(d *datadriven.TestData) {
	t := e.t
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Version = int16(argInt(t, d, "v", 9))
	req.Group, req.MemberID, req.InstanceID = arg(d, "g", "g"), arg(d, "m", ""), optStr(d, "i")
	req.Generation = int32(argInt(t, d, "gen", -1))
	req.RetentionTimeMillis = argInt(t, d, "retention", -1)
	md := optStr(d, "md")
	for _, tpo := range argList(d, "tpo") { // topic:partition:offset
		f := strings.Split(tpo, ":")
		p, _ := strconv.Atoi(f[1])
		o, _ := strconv.ParseInt(f[2], 10, 64)
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic = f[0]
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset, rp.Metadata, rp.LeaderEpoch = int32(p), o, md, 7
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
	}
	e.c.OffsetCommit(e.now, req, func(r *kmsg.OffsetCommitResponse) {
		for _, t := range r.Topics {
			for _, p := range t.Partitions {
				e.printf("commit %s:%d: %s", t.Topic, p.Partition, errName(p.ErrorCode))
			}
		}
	})
}

func (e *scriptEnv) fetch(d *datadriven.TestData) {
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Version = int16(argInt(e.t, d, "v", 9))
	g := kmsg.NewOffsetFetchRequestGroup()
	g.Group = arg(d, "g", "g")
	if tps := argList(d, "tp"); tps != nil {
		g.Topics = []kmsg.OffsetFetchRequestGroupTopic{}
		for _, tp := range tps {
			topic, p, _ := strings.Cut(tp, ":")
			n, _ := strconv.Atoi(p)
			g.Topics = append(g.Topics, kmsg.OffsetFetchRequestGroupTopic{Topic: topic, Partitions: []int32{int32(n)}})
		}
	}
	req.Groups = []kmsg.OffsetFetchRequestGroup{g}
	r := e.c.OffsetFetch(e.now, req)
	for _, rg := range r.Groups {
		e.printf("fetch %s: %s", rg.Group, errName(rg.ErrorCode))
		for _, t := range rg.Topics {
			for _, p := range t.Partitions {
				e.printf("  %s:%d offset=%d epoch=%d md=%q %s", t.Topic, p.Partition, p.Offset, p.LeaderEpoch, deref(p.Metadata), errName(p.ErrorCode))
			}
		}
	}
}

func (e *scriptEnv) describe(d *datadriven.TestData) {
	req := kmsg.NewPtrDescribeGroupsRequest()
	req.Version = int16(argInt(e.t, d, "v", 5))
	req.Groups = argList(d, "g")
	for _, g := range e.c.DescribeGroups(req).Groups {
		_, gen, _ := e.c.GroupState(g.Group)
		e.printf("%s: %s state=%s gen=%d type=%q proto=%q", g.Group, errName(g.ErrorCode), g.State, gen, g.ProtocolType, g.Protocol)
		for _, m := range g.Members {
			e.printf("  %s instance=%s client=%s assignment=%q", m.MemberID, deref(m.InstanceID), m.ClientID, m.MemberAssignment)
		}
	}
}

func describeRecord(r KV) string {
	var k kmsg.OffsetCommitKey
	if err := k.ReadFrom(r.Key); err == nil && k.Version <= 1 {
		if r.Value == nil {
			return fmt.Sprintf("offset %s/%s:%d <tombstone>", k.Group, k.Topic, k.Partition)
		}
		var v kmsg.OffsetCommitValue
		_ = v.ReadFrom(r.Value)
		return fmt.Sprintf("offset %s/%s:%d v%d offset=%d", k.Group, k.Topic, k.Partition, v.Version, v.Offset)
	}
	var gk kmsg.GroupMetadataKey
	_ = gk.ReadFrom(r.Key)
	if r.Value == nil {
		return fmt.Sprintf("group %s <tombstone>", gk.Group)
	}
	var v kmsg.GroupMetadataValue
	_ = v.ReadFrom(r.Value)
	var ms []string
	for _, m := range v.Members {
		ms = append(ms, fmt.Sprintf("%s=%q", m.MemberID, m.Assignment))
	}
	return fmt.Sprintf("group %s v%d gen=%d type=%q proto=%s leader=%s members=%v", gk.Group, v.Version, v.Generation, v.ProtocolType, deref(v.Protocol), deref(v.Leader), ms)
}
