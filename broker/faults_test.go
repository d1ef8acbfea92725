package broker

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/highwater-io/highwater/broker/internal/faults"
)

func TestFaultConfigRejected(t *testing.T) {
	for name, kv := range map[string][]string{
		"unknown bug":                {"highwater.planted.bug", "ack-before-replication,made-up"},
		"endpoints without listener": {"highwater.fault.endpoints", "true"},
	} {
		cfg := DefaultConfig()
		cfg.Properties = props(t.TempDir(), kv...)
		if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), kv[0]) {
			t.Errorf("%s: New = %v, want an error naming %s", name, err, kv[0])
		}
	}
}

// runFaultBroker starts a single-node broker and returns it with a kill
// function: it stops serving and releases the directory without Close, so
// what the page cache held is lost as on kill -9.
func runFaultBroker(t *testing.T, dir string, kv ...string) (*Broker, func()) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Properties = props(dir, kv...)
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- b.Run(ctx) }()
	return b, func() {
		stop()
		<-ran
		b.unlock()
	}
}

func produceAndCount(t *testing.T, addr, topic string, produce int) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic), kgo.RequiredAcks(kgo.LeaderAck()),
		kgo.DisableIdempotentWrite(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if produce > 0 {
		if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, topic); err != nil {
			t.Fatal(err)
		}
		for i := range produce {
			if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte{byte(i)}}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	end, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	o, _ := end.Lookup(topic, 0)
	return int(o.Offset)
}

// With highwater.fault.page.cache a kill loses what was not fsynced; with
// log.flush.interval.messages=1 nothing acknowledged is lost, unless
// lose-fsync is planted.
func TestPageCacheKillLosesUnsynced(t *testing.T) {
	t.Cleanup(faults.Reset)
	for _, tc := range []struct {
		name string
		kv   []string
		want int
	}{
		{"flush never", []string{"highwater.fault.page.cache", "true"}, 0},
		{"flush every message", []string{"highwater.fault.page.cache", "true", "log.flush.interval.messages", "1"}, 20},
		{"lose-fsync planted", []string{"highwater.planted.bug", "lose-fsync", "log.flush.interval.messages", "1"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer faults.Reset()
			dir := t.TempDir()
			b, kill := runFaultBroker(t, dir, tc.kv...)
			if got := produceAndCount(t, b.Addr().String(), "t", 20); got != 20 {
				t.Fatalf("before the kill the log ends at %d", got)
			}
			kill()
			faults.Reset()
			b2, kill2 := runFaultBroker(t, dir)
			defer kill2()
			defer b2.Close()
			if got := produceAndCount(t, b2.Addr().String(), "t", 0); got != tc.want {
				t.Fatalf("after the kill the log ends at %d, want %d", got, tc.want)
			}
		})
	}
}

// /fault/clock skews the broker's clock seam and answers JSON.
func TestClockEndpoint(t *testing.T) {
	t.Cleanup(faults.Reset)
	b, kill := runFaultBroker(t, t.TempDir(), "highwater.metrics.listener", "127.0.0.1:0",
		"highwater.fault.endpoints", "true", "highwater.planted.bug", "stale-read")
	defer func() { kill(); b.Close() }()
	if !faults.Planted(faults.StaleRead) {
		t.Fatal("stale-read not planted")
	}
	url := "http://" + b.MetricsAddr().String() + faults.ClockPath
	do := func(method, target string) int64 {
		req, _ := http.NewRequest(method, target, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body struct {
			OffsetMs int64 `json:"offset_ms"`
		}
		if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&body) != nil {
			t.Fatalf("%s %s: %s", method, target, resp.Status)
		}
		return body.OffsetMs
	}
	if got := do(http.MethodPut, url+"?offset_ms=-120000"); got != -120000 {
		t.Fatalf("PUT answered %d", got)
	}
	if skew := time.Since(b.cfg.Now()); skew < 119*time.Second || skew > 125*time.Second {
		t.Fatalf("broker clock is %v behind, want 2m", skew)
	}
	if got := do(http.MethodGet, url); got != -120000 {
		t.Fatalf("GET answered %d", got)
	}
	if got := do(http.MethodDelete, url); got != 0 || time.Since(b.cfg.Now()) > 5*time.Second {
		t.Fatalf("DELETE answered %d", got)
	}
	defer faults.SetReplicaFetchDelay(0)
	req, _ := http.NewRequest(http.MethodPut, "http://"+b.MetricsAddr().String()+faults.ReplicationPath+"?delay_ms=40", nil)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusOK || faults.ReplicaFetchDelay() != 40*time.Millisecond {
		t.Fatalf("PUT /fault/replication: %v %v, delay %v", resp, err, faults.ReplicaFetchDelay())
	} else {
		resp.Body.Close()
	}
	resp, err := http.Get("http://" + b.MetricsAddr().String() + "/metrics")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics next to the fault endpoint: %v %v", resp, err)
	}
	resp.Body.Close()
}

// With highwater.fault.produce.answer.delay.ms a produced record is in
// the log (ListOffsets sees it) while its producer still waits for the
// answer: the window in which a crash makes an idempotent producer retry
// a batch the broker already has.
func TestProduceAnswerDelay(t *testing.T) {
	defer faults.SetProduceAnswerDelay(0)
	b, kill := runFaultBroker(t, t.TempDir(), "highwater.fault.produce.answer.delay.ms", "60000")
	defer kill()
	if got := faults.ProduceAnswerDelay(); got != time.Minute {
		t.Fatalf("ProduceAnswerDelay = %v, want 1m", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	addr := b.Addr().String()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic("t"), kgo.ProduceRequestTimeout(2*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "t"); err != nil {
		t.Fatal(err)
	}
	answered := make(chan error, 1)
	cl.Produce(ctx, &kgo.Record{Value: []byte("v")}, func(_ *kgo.Record, err error) { answered <- err })
	for {
		end, err := adm.ListEndOffsets(ctx, "t")
		if err != nil {
			t.Fatal(err)
		}
		if o, _ := end.Lookup("t", 0); o.Offset == 1 {
			break
		}
		select {
		case err := <-answered:
			t.Fatalf("produce answered (%v) before the record was seen in the log", err)
		case <-ctx.Done():
			t.Fatal("the record never reached the log")
		case <-time.After(50 * time.Millisecond):
		}
	}
	select {
	case err := <-answered:
		t.Fatalf("produce answered (%v) with a one-minute answer delay", err)
	default:
	}
}

// highwater.fault.replica.restart.delay.ms holds follower fetches only when
// the broker starts over existing partition logs (a restart), never on a
// first start.
func TestReplicaRestartHold(t *testing.T) {
	defer faults.HoldReplicaFetches(time.Time{}, nil)
	dir := t.TempDir()
	kv := []string{"highwater.fault.replica.restart.delay.ms", "60000"}
	b, kill := runFaultBroker(t, dir, kv...)
	if d := faults.ReplicaFetchDelay(); d != 0 {
		t.Fatalf("first start: follower fetches held %v, want none", d)
	}
	if got := produceAndCount(t, b.Addr().String(), "t", 1); got != 1 {
		t.Fatalf("the log ends at %d, want 1", got)
	}
	kill()
	_, kill2 := runFaultBroker(t, dir, kv...)
	defer kill2()
	if d := faults.ReplicaFetchDelay(); d < 30*time.Second || d > time.Minute {
		t.Fatalf("restart over a partition log: follower fetches held %v, want about 1m", d)
	}
}
