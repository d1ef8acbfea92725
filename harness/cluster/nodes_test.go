package cluster

import (
	"errors"
	"strings"
	"testing"
)

func TestNodeAt(t *testing.T) {
	nodes := []string{"one", "two", "three"}
	for _, tc := range []struct {
		id   int32
		want string
		err  bool
	}{{1, "one", false}, {3, "three", false}, {0, "", true}, {4, "", true}, {-1, "", true}} {
		got, err := NodeAt(nodes, tc.id)
		if tc.err {
			if !errors.Is(err, ErrUnknownNode) || !strings.Contains(err.Error(), "nodes are 1..3") {
				t.Errorf("NodeAt(%d) = %q, %v; want ErrUnknownNode naming 1..3", tc.id, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("NodeAt(%d) = %q, %v; want %q", tc.id, got, err, tc.want)
		}
	}
	if _, err := NodeAt([]string(nil), 1); !errors.Is(err, ErrUnknownNode) {
		t.Errorf("NodeAt(no nodes, 1) = %v", err)
	}
}
