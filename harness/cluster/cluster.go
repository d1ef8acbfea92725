package cluster

import (
	"context"
	"errors"
	"fmt"
)

// Sentinel errors shared by drivers; concrete errors wrap them.
var (
	// ErrUnavailable means the cluster cannot provide a fault or a query
	// (no root for network namespaces, a driver without process control).
	ErrUnavailable = errors.New("cluster: unavailable")
	// ErrUnknownNode means a node id that is not part of the cluster.
	ErrUnknownNode = errors.New("cluster: unknown node")
	// ErrNotRunning means an operation needs a running node.
	ErrNotRunning = errors.New("cluster: node not running")
	// ErrClosed means the cluster was closed.
	ErrClosed = errors.New("cluster: closed")
)

// Node describes one node as its users see it: addresses are host:port
// strings reachable from the harness, whatever network the node lives on.
type Node struct {
	ID   int32
	Rack string
	// Addr is the client (PLAINTEXT) listener.
	Addr string
	// ControllerAddr is the KRaft controller listener, empty for a node
	// without the controller role.
	ControllerAddr string
}

// TopicPartition names one partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

func (tp TopicPartition) String() string { return fmt.Sprintf("%s-%d", tp.Topic, tp.Partition) }

// Cluster is what the harness and nemesis drive. Methods taking a node id
// return an error wrapping ErrUnknownNode for ids not in Nodes.
type Cluster interface {
	// Nodes lists every node, running or not, in id order.
	Nodes() []Node
	// Bootstrap is a comma-separated list of client addresses.
	Bootstrap() string

	// Start starts a stopped or killed node and waits until it serves
	// again; a running (or paused) node is left as it is.
	Start(ctx context.Context, id int32) error
	// Stop shuts a node down gracefully (SIGTERM), escalating to Kill
	// after the driver's stop timeout.
	Stop(ctx context.Context, id int32) error
	// Kill stops a node at once (SIGKILL): no shutdown, unsynced data lost
	// as the OS allows.
	Kill(ctx context.Context, id int32) error
	// Pause freezes a node (SIGSTOP): its connections stay open, nothing
	// is answered.
	Pause(ctx context.Context, id int32) error
	// Resume continues a paused node (SIGCONT).
	Resume(ctx context.Context, id int32) error
	// Restart stops a node gracefully if it runs and starts it again with
	// the same data, id and addresses.
	Restart(ctx context.Context, id int32) error

	// Leaders maps every partition the cluster reports to its leader's
	// node id (-1 when it has none), from a Metadata request.
	Leaders(ctx context.Context) (map[TopicPartition]int32, error)
	// ActiveController is the node id of the active (KRaft quorum leader)
	// controller.
	ActiveController(ctx context.Context) (int32, error)

	// Logs locates the node's captured output (a path for local drivers,
	// a URL or pod/container name for others).
	Logs(id int32) string
	// Close stops every node and releases everything the driver made
	// (processes, namespaces, temporary files it owns); nothing is left
	// behind even after earlier failures.
	Close(ctx context.Context) error
}

// Network cuts and heals links between nodes: packets between the two
// nodes are dropped silently in both directions, as a partition would.
// Client traffic from the harness is not affected.
type Network interface {
	// Cut drops every packet between nodes a and b (both directions).
	Cut(ctx context.Context, a, b int32) error
	// Heal restores the link between a and b.
	Heal(ctx context.Context, a, b int32) error
	// HealAll restores every link.
	HealAll(ctx context.Context) error
}

// NetworkProvider is implemented by drivers that may cut links; Network
// returns an error wrapping ErrUnavailable, with the reason and the fix,
// when this particular cluster cannot (for example it was started without
// network namespaces, or not as root).
type NetworkProvider interface {
	Network() (Network, error)
}

// NetworkOf returns c's Network or an error wrapping ErrUnavailable that
// says why.
func NetworkOf(c Cluster) (Network, error) {
	p, ok := c.(NetworkProvider)
	if !ok {
		return nil, fmt.Errorf("%w: network partitions: the %T driver cannot cut links", ErrUnavailable, c)
	}
	return p.Network()
}

// Isolate cuts node id off from every other node of c.
func Isolate(ctx context.Context, c Cluster, n Network, id int32) error {
	for _, other := range c.Nodes() {
		if other.ID == id {
			continue
		}
		if err := n.Cut(ctx, id, other.ID); err != nil {
			return err
		}
	}
	return nil
}
