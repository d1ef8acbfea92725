package reference

import (
	"strings"
	"testing"
)

// TestPropertiesOverrides: Set applies to every node, NodeSet to one node
// after Set, and both win over the driver's defaults.
func TestPropertiesOverrides(t *testing.T) {
	cfg, err := Config{Nodes: 3, Dir: t.TempDir(), Binary: "/bin/true",
		Set:     map[string]string{"min.insync.replicas": "1", "highwater.fault.page.cache": "true"},
		NodeSet: map[int32]map[string]string{2: {"highwater.planted.bug": "lose-acked", "min.insync.replicas": "3"}},
	}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	c := &Cluster{cfg: cfg}
	for i := range 3 {
		c.nodes = append(c.nodes, &node{id: int32(i + 1), client: "127.0.0.1:1", ctrl: "127.0.0.1:2", metr: "127.0.0.1:3"})
	}
	for _, tc := range []struct {
		id        int32
		key, want string
	}{
		{1, "min.insync.replicas", "1"},
		{2, "min.insync.replicas", "3"},
		{3, "highwater.fault.page.cache", "true"},
		{2, "highwater.planted.bug", "lose-acked"},
		{1, "highwater.planted.bug", ""},
		{3, "process.roles", "broker,controller"},
	} {
		if got := c.properties(c.nodes[tc.id-1])[tc.key]; got != tc.want {
			t.Errorf("node %d %s = %q, want %q", tc.id, tc.key, got, tc.want)
		}
	}
	_, err = Config{Nodes: 3, Dir: t.TempDir(), Binary: "/bin/true",
		NodeSet: map[int32]map[string]string{4: {"a": "b"}}}.withDefaults()
	if err == nil || !strings.Contains(err.Error(), "node 4") {
		t.Fatalf("NodeSet for node 4 of 3 = %v, want an error", err)
	}
}
