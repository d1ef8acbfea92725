package handler

import (
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// The epoch decides before the id (Kafka's FetchManager): a session id the
// broker does not know (it restarted, or evicted it) with epoch 0 opens a
// new session and with -1 fetches without one; only an incremental epoch
// needs the id to exist.
func TestFetchSessionEpochBeforeID(t *testing.T) {
	f := newFetchSessions(time.Now)
	const unknown = 4242
	s, full, err := f.begin(unknown, initialEpoch)
	if err != nil || !full || s == nil || s.id == unknown {
		t.Fatalf("unknown id, epoch 0: session %+v full %v err %v, want a new session", s, full, err)
	}
	f.end(s)
	if s, full, err := f.begin(unknown, finalEpoch); err != nil || !full || s != nil {
		t.Fatalf("unknown id, epoch -1: session %+v full %v err %v, want a sessionless full fetch", s, full, err)
	}
	if _, _, err := f.begin(unknown, 3); !errors.Is(err, kerr.FetchSessionIDNotFound) {
		t.Fatalf("unknown id, epoch 3: %v, want FETCH_SESSION_ID_NOT_FOUND", err)
	}
	if _, _, err := f.begin(0, 3); !errors.Is(err, kerr.InvalidFetchSessionEpoch) {
		t.Fatalf("id 0, epoch 3: %v, want INVALID_FETCH_SESSION_EPOCH", err)
	}
	// A known id with epoch -1 closes it.
	id := s.id
	if _, _, err := f.begin(id, finalEpoch); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.begin(id, 1); !errors.Is(err, kerr.FetchSessionIDNotFound) {
		t.Fatalf("closed session still known: %v", err)
	}
}
