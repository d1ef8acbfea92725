package handler

import (
	"context"
	"errors"
	"net"

	"github.com/highwater-io/highwater/broker/internal/group"
)

// errNoGroupCoordinator closes a connection that sends a group request to a
// broker started without a group coordinator (FindCoordinator already told
// the client COORDINATOR_NOT_AVAILABLE).
var errNoGroupCoordinator = errors.New("handler: no group coordinator configured")

// groupCtx hands the group coordinator the client id and host that Kafka
// reports in DescribeGroups (host as "/ip", Kafka's InetAddress.toString).
func groupCtx(ctx context.Context, c *Conn) context.Context {
	host := c.RemoteAddr
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return group.WithClient(ctx, group.Client{ID: c.ClientID, Host: "/" + host})
}

// parked converts a nil answer from a blocking group call (its context
// ended first) into the error that closes the connection.
func parked[T any](resp *T, ctx context.Context) (*T, error) {
	if resp == nil {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		return nil, errors.New("handler: group coordinator returned no response")
	}
	return resp, nil
}

// The group Service is the coordinator the broker wires in.
var _ Groups = (*group.Service)(nil)
