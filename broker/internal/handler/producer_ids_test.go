package handler

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

type failingProducerIDs struct{}

func (failingProducerIDs) NextProducerID() (int64, error) {
	return 0, errors.New("controller out of reach")
}

// A node that cannot get a producer id block (not registered yet, or cut
// off from the controller) answers a retriable error, as Kafka does, so
// idempotent producers wait instead of failing.
func TestInitProducerIDWithoutIDBlockIsRetriable(t *testing.T) {
	s := New(Config{ProducerIDs: failingProducerIDs{}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	req := kmsg.NewPtrInitProducerIDRequest()
	req.Version = 4
	req.ProducerID, req.ProducerEpoch = -1, -1
	resp, err := s.initProducerID(context.Background(), &Conn{}, req)
	if err != nil {
		t.Fatal(err)
	}
	got := kerr.ErrorForCode(resp.ErrorCode)
	if !errors.Is(got, kerr.CoordinatorLoadInProgress) || !kerr.IsRetriable(got) || resp.ProducerID != -1 {
		t.Fatalf("got %v id %d, want retriable COORDINATOR_LOAD_IN_PROGRESS and no id", got, resp.ProducerID)
	}
}
