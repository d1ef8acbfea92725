package workload

import (
	"slices"
	"testing"
)

// The ids the nemesis aims coordinator faults at are the ones the
// workloads use.
func TestTransactionalIDs(t *testing.T) {
	c := DefaultConfig("x:1")
	c.Producers = 2
	if got := c.TransactionalIDs("txn"); !slices.Equal(got, []string{"highwater-txn-0", "highwater-txn-1"}) {
		t.Errorf("txn: %v", got)
	}
	if got := c.TransactionalIDs("eos"); !slices.Equal(got, []string{"highwater-eos-0", "highwater-eos-1"}) {
		t.Errorf("eos: %v", got)
	}
	if got := c.TransactionalIDs("queue"); got != nil {
		t.Errorf("queue: %v", got)
	}
}
