package handler

import (
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Incremental fetch sessions (KIP-227). A session remembers, per partition,
// the fetch position the client last asked for and what the last response
// said about the partition, so an incremental request names only changes
// and an incremental response carries only partitions with something new.

// maxFetchSessions mirrors Kafka's max.incremental.fetch.session.cache.slots.
const maxFetchSessions = 1000

type sessionKey struct {
	topic     string
	topicID   [16]byte
	partition int32
}

type sessionPartition struct {
	fetchOffset       int64
	partitionMaxBytes int32
	leaderEpoch       int32
	// what the last response reported, to decide whether to report again
	sentHighWatermark, sentLogStart int64
	sent                            bool
}

type fetchSession struct {
	id       int32
	epoch    int32 // the epoch the next request must carry
	parts    map[sessionKey]*sessionPartition
	order    []sessionKey // request order, for stable responses
	lastUsed time.Time
	inUse    bool
}

type fetchSessions struct {
	mu     sync.Mutex
	now    func() time.Time
	nextID int32
	byID   map[int32]*fetchSession
}

func newFetchSessions(now func() time.Time) *fetchSessions {
	return &fetchSessions{now: now, byID: map[int32]*fetchSession{}}
}

// Fetch session epochs, as the protocol defines them.
const (
	initialEpoch = 0  // with session id 0: create a session
	finalEpoch   = -1 // close the session (or fetch without one)
)

// begin resolves the session a request names. It returns the session to
// update (nil for a sessionless full fetch) and whether the request is a
// full fetch. A session is held (inUse) until end is called, so two
// concurrent requests cannot interleave on it.
func (f *fetchSessions) begin(id, epoch int32) (sess *fetchSession, full bool, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	// The epoch decides before the id, as in Kafka: 0 opens a new session
	// and -1 fetches without one, whatever id the client still carries (a
	// client whose session a restarted broker no longer knows must be able
	// to start over; refusing it left consumers looping on that broker).
	switch {
	case epoch == initialEpoch:
		if id != 0 {
			delete(f.byID, id) // a client restarting its session with the old id
		}
		return f.create(), true, nil
	case epoch == finalEpoch:
		if id != 0 {
			delete(f.byID, id)
		}
		return nil, true, nil
	case id == 0:
		return nil, false, kerr.InvalidFetchSessionEpoch
	}
	s, ok := f.byID[id]
	if !ok {
		return nil, false, kerr.FetchSessionIDNotFound
	}
	if s.inUse || epoch != s.epoch {
		return nil, false, kerr.InvalidFetchSessionEpoch
	}
	s.inUse = true
	return s, false, nil
}

func (f *fetchSessions) create() *fetchSession {
	if len(f.byID) >= maxFetchSessions {
		f.evictOldest()
	}
	for {
		f.nextID++
		if f.nextID <= 0 {
			f.nextID = 1
		}
		if _, taken := f.byID[f.nextID]; !taken {
			break
		}
	}
	s := &fetchSession{id: f.nextID, parts: map[sessionKey]*sessionPartition{}, inUse: true}
	f.byID[s.id] = s
	return s
}

func (f *fetchSessions) evictOldest() {
	var oldest *fetchSession
	for _, s := range f.byID {
		if !s.inUse && (oldest == nil || s.lastUsed.Before(oldest.lastUsed)) {
			oldest = s
		}
	}
	if oldest != nil {
		delete(f.byID, oldest.id)
	}
}

// end releases a session after its response is built and moves its epoch on.
func (f *fetchSessions) end(s *fetchSession) {
	if s == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s.inUse = false
	s.epoch++
	if s.epoch <= 0 {
		s.epoch = 1
	}
	s.lastUsed = f.now()
}

// remove drops a session whose request failed before it was used.
func (f *fetchSessions) remove(s *fetchSession) {
	if s == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.byID, s.id)
}
