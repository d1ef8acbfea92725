package kafka

import (
	"errors"
	"testing"
)

func TestValidate(t *testing.T) {
	bad := []Config{
		{},
		{Dir: "d", Nodes: -1},
		{Dir: "d", Nodes: 33},
		{Dir: "d", BasePort: 65530, Nodes: 3},
		{Dir: "d", HeapMB: 64},
		{Dir: "d", Racks: []string{" "}},
		{Dir: "d", Set: map[string]string{"node.id": "7"}},
		{Dir: "d", Set: map[string]string{"listeners": "PLAINTEXT://:1"}},
		{Dir: "d", Set: map[string]string{"": "x"}},
	}
	for _, c := range bad {
		if err := c.Validate(); !errors.Is(err, ErrBadConfig) {
			t.Errorf("Validate(%+v) = %v, want ErrBadConfig", c, err)
		}
	}
	if err := (Config{Dir: "d"}).Validate(); err != nil {
		t.Errorf("Validate(defaults) = %v", err)
	}
}

func TestParseSet(t *testing.T) {
	got, err := ParseSet([]string{"a=1", " b =x=y", "c="})
	if err != nil || got["a"] != "1" || got["b"] != "x=y" || got["c"] != "" {
		t.Fatalf("ParseSet = %v, %v", got, err)
	}
	for _, in := range []string{"novalue", "=v"} {
		if _, err := ParseSet([]string{in}); !errors.Is(err, ErrBadConfig) {
			t.Errorf("ParseSet(%q) = %v, want ErrBadConfig", in, err)
		}
	}
}

func TestProperties(t *testing.T) {
	tests := []struct {
		nodes          int
		rf, minISR     string
		rackOfLastNode string
	}{
		{1, "1", "1", "az-a"},
		{2, "2", "2", "az-b"},
		{3, "3", "2", "az-c"},
		{5, "3", "2", "az-b"},
	}
	for _, tt := range tests {
		c := Config{Dir: "d", Nodes: tt.nodes}.withDefaults()
		addrs := make([]nodeAddr, tt.nodes)
		for i := range addrs {
			addrs[i] = nodeAddr{host: "127.0.0.1", clientPort: 9000 + 2*i, controller: 9001 + 2*i}
		}
		p := c.properties(int32(tt.nodes), addrs, "/data")
		if p["default.replication.factor"] != tt.rf || p["offsets.topic.replication.factor"] != tt.rf ||
			p["transaction.state.log.replication.factor"] != tt.rf {
			t.Errorf("%d nodes: replication factors %v", tt.nodes, p)
		}
		if p["min.insync.replicas"] != tt.minISR || p["transaction.state.log.min.isr"] != tt.minISR {
			t.Errorf("%d nodes: min ISR %s, want %s", tt.nodes, p["min.insync.replicas"], tt.minISR)
		}
		if p["broker.rack"] != tt.rackOfLastNode {
			t.Errorf("%d nodes: last node's rack %s, want %s", tt.nodes, p["broker.rack"], tt.rackOfLastNode)
		}
	}
	c := Config{Dir: "d", Nodes: 2, Set: map[string]string{"min.insync.replicas": "1", "log.flush.interval.messages": "1"}}.withDefaults()
	addrs := []nodeAddr{{"127.0.0.1", 1, 2}, {"127.0.0.1", 3, 4}}
	p := c.properties(2, addrs, "/data")
	if p["min.insync.replicas"] != "1" || p["log.flush.interval.messages"] != "1" {
		t.Errorf("--set not applied: %v", p)
	}
	if p["controller.quorum.voters"] != "1@127.0.0.1:2,2@127.0.0.1:4" {
		t.Errorf("voters = %q", p["controller.quorum.voters"])
	}
	if p["listeners"] != "PLAINTEXT://127.0.0.1:3,CONTROLLER://127.0.0.1:4" {
		t.Errorf("listeners = %q", p["listeners"])
	}
}
