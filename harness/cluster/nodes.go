package cluster

import "fmt"

// NodeAt is the node of id in nodes, which a driver keeps in id order
// from 1 (node id is at index id-1); any other id is an error wrapping
// ErrUnknownNode that names the valid range, as Cluster's methods taking
// a node id must return.
func NodeAt[N any](nodes []N, id int32) (N, error) {
	if id < 1 || int(id) > len(nodes) {
		var none N
		return none, fmt.Errorf("%w: %d (nodes are 1..%d)", ErrUnknownNode, id, len(nodes))
	}
	return nodes[id-1], nil
}
