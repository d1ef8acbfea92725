package workload

import (
	"context"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/highwater-io/highwater/history"
)

func TestClassify(t *testing.T) {
	for _, c := range []struct {
		name string
		err  error
		want history.Type
	}{
		{"nil", nil, history.TypeOK},
		{"delivery timeout", kgo.ErrRecordTimeout, history.TypeInfo},
		{"retries exhausted", kgo.ErrRecordRetries, history.TypeInfo},
		{"client closed", kgo.ErrClientClosed, history.TypeInfo},
		{"context deadline", context.DeadlineExceeded, history.TypeInfo},
		{"context canceled", context.Canceled, history.TypeInfo},
		{"not leader", kerr.NotLeaderForPartition, history.TypeInfo},
		{"not enough replicas", kerr.NotEnoughReplicas, history.TypeInfo},
		{"not enough replicas after append", kerr.NotEnoughReplicasAfterAppend, history.TypeInfo},
		{"request timed out", kerr.RequestTimedOut, history.TypeInfo},
		{"out of order sequence", kerr.OutOfOrderSequenceNumber, history.TypeInfo},
		{"invalid producer epoch", kerr.InvalidProducerEpoch, history.TypeInfo},
		{"unknown topic", kerr.UnknownTopicOrPartition, history.TypeInfo},
		{"connection reset", &net.OpError{Op: "read", Err: syscall.ECONNRESET}, history.TypeInfo},
		{"eof", io.EOF, history.TypeInfo},
		{"message too large", kerr.MessageTooLarge, history.TypeFail},
		{"wrapped too large", fmt.Errorf("produce: %w", kerr.MessageTooLarge), history.TypeFail},
		{"invalid record", kerr.InvalidRecord, history.TypeFail},
		{"topic authorization", kerr.TopicAuthorizationFailed, history.TypeFail},
		{"invalid topic", kerr.InvalidTopicException, history.TypeFail},
	} {
		if got := Classify(c.err); got != c.want {
			t.Errorf("%s: Classify(%v) = %s, want %s", c.name, c.err, got, c.want)
		}
	}
}
