package group

import (
	"testing"
	"time"
)

// FuzzLoad: replaying arbitrary __consumer_offsets records never panics,
// and a coordinator that loaded them still answers requests.
func FuzzLoad(f *testing.F) {
	o := committedOffset{offset: 5, leaderEpoch: 1, metadata: "m", commitTime: time.UnixMilli(1)}
	f.Add(offsetKey("g", "t", 0), offsetValue(o))
	g := newGroup("g", time.UnixMilli(1))
	g.protocolType, g.protocol, g.generation = "consumer", "range", 3
	g.add(&member{id: "m1", protocols: []protocol{{name: "range", metadata: []byte{0, 1}}}, sessionTO: time.Second})
	c0, _ := NewCoordinator(testCoordinatorConfig())
	rec := c0.groupRecord(g)[0]
	f.Add(rec.Key, rec.Value)
	f.Add(groupKey("g"), []byte(nil))
	f.Add([]byte{0, 9}, []byte{1})
	f.Fuzz(func(t *testing.T, key, value []byte) {
		c, err := NewCoordinator(testCoordinatorConfig())
		if err != nil {
			t.Fatal(err)
		}
		now := time.UnixMilli(1000)
		_ = c.Load(now, []KV{{Key: key, Value: value}})
		c.Tick(now.Add(time.Hour))
		for _, id := range c.Groups() {
			c.GroupState(id)
		}
	})
}

func testCoordinatorConfig() CoordinatorConfig {
	cfg := DefaultCoordinatorConfig()
	n := 0
	cfg.NewMemberID = func(client string) string { n++; return client + "-" + string(rune('a'+n%26)) }
	return cfg
}
