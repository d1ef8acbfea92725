package portpick

import (
	"net"
	"slices"
	"strconv"
	"testing"
)

func TestPick(t *testing.T) {
	if got, err := Pick("127.0.0.1", 19000, 3); err != nil || !slices.Equal(got, []int{19000, 19001, 19002}) {
		t.Errorf("Pick(base 19000, 3) = %v, %v", got, err)
	}
	got, err := Pick("127.0.0.1", 0, 6)
	if err != nil || len(got) != 6 {
		t.Fatalf("Pick(free, 6) = %v, %v", got, err)
	}
	seen := map[int]bool{}
	for _, p := range got {
		if p <= 0 || seen[p] {
			t.Errorf("port %d repeated or invalid in %v", p, got)
		}
		seen[p] = true
		// Released again: each can be bound now.
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			t.Errorf("port %d not free after Pick: %v", p, err)
			continue
		}
		ln.Close()
	}
	if _, err := Free("256.0.0.1", 1); err == nil {
		t.Error("Free on an invalid host succeeded")
	}
}
