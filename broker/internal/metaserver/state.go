package metaserver

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"maps"

	"github.com/highwater-io/highwater/broker/internal/metadata"
)

// State is one committed metadata image and the log offset it is at. It
// is immutable; Changed is closed once a newer State is published, so a
// reader loads State, reacts, then waits on Changed (no update is missed,
// and a slow reader skips straight to the newest).
type State struct {
	Image metadata.Image
	// Offset is the raft index of the last metadata entry applied: the
	// "metadata offset" brokers report in heartbeats.
	Offset uint64
	// regOffsets: broker id → offset of the entry holding its current
	// registration (after a snapshot restore: the snapshot's offset). A
	// broker has caught up once it applied that far.
	regOffsets map[int32]uint64
	changed    chan struct{}
}

// Changed is closed when a newer State replaces this one.
func (s *State) Changed() <-chan struct{} { return s.changed }

// RegistrationOffset is the offset of broker id's current registration
// and whether it is registered.
func (s *State) RegistrationOffset(id int32) (uint64, bool) {
	o, ok := s.regOffsets[id]
	return o, ok
}

func newState(img metadata.Image, offset uint64, reg map[int32]uint64) *State {
	return &State{Image: img, Offset: offset, regOffsets: reg, changed: make(chan struct{})}
}

// entryVersion is the first byte of every raft entry this package writes.
const entryVersion = 1

// Entry layout: version byte, then prevOffset (u64 big endian), then a
// metadata.EncodeBatch batch. prevOffset is the offset the deciding
// controller's image was at before this batch (0: unconditional, the
// barrier a new controller proposes). Every node applies a batch only if
// its own offset equals prevOffset, so a deposed controller's decision that
// still got committed after other entries is skipped everywhere alike
// (optimistic concurrency, the role KRaft's epoch-checked appends play).
func encodeEntry(prevOffset uint64, recs []metadata.Record) []byte {
	b := make([]byte, 9, 64)
	b[0] = entryVersion
	binary.BigEndian.PutUint64(b[1:9], prevOffset)
	if recs == nil {
		recs = []metadata.Record{}
	}
	return append(b, metadata.EncodeBatch(recs)...)
}

func decodeEntry(b []byte) (prevOffset uint64, recs []metadata.Record, err error) {
	if len(b) < 9 || b[0] != entryVersion {
		return 0, nil, fmt.Errorf("%w: metadata entry header", metadata.ErrDecode)
	}
	recs, err = metadata.DecodeBatch(b[9:])
	return binary.BigEndian.Uint64(b[1:9]), recs, err
}

// applyEntry returns the state after entry data at index, and whether the
// batch was applied (false: skipped as stale or invalid; the offset still
// moves).
func applyEntry(st *State, index uint64, data []byte) (*State, bool, error) {
	prev, recs, err := decodeEntry(data)
	if err != nil {
		return newState(st.Image, index, st.regOffsets), false, err
	}
	if prev != 0 && prev != st.Offset {
		return newState(st.Image, index, st.regOffsets), false,
			fmt.Errorf("stale batch: decided at offset %d, log at %d", prev, st.Offset)
	}
	img := st.Image
	reg := st.regOffsets
	copied := false
	for _, r := range recs {
		next, err := metadata.Apply(img, r)
		if err != nil {
			// A batch is one decision: all of it or nothing.
			return newState(st.Image, index, st.regOffsets), false, err
		}
		img = next
		if rr, ok := r.(metadata.RegisterBrokerRecord); ok {
			if !copied {
				reg, copied = maps.Clone(reg), true
				if reg == nil {
					reg = map[int32]uint64{}
				}
			}
			reg[rr.BrokerID] = index
		}
		if ur, ok := r.(metadata.UnregisterBrokerRecord); ok {
			if !copied {
				reg, copied = maps.Clone(reg), true
			}
			delete(reg, ur.BrokerID)
		}
	}
	return newState(img, index, reg), true, nil
}

// snapshotData is what a raft snapshot holds: the image plus this
// package's own offset bookkeeping (raft's snapshot index may be one of
// its own empty entries, which Apply never sees, so Offset travels here).
type snapshotData struct {
	Offset     uint64           `json:"offset"`
	RegOffsets map[int32]uint64 `json:"regOffsets,omitempty"`
	Image      json.RawMessage  `json:"image"`
}

func encodeSnapshot(st *State) ([]byte, error) {
	return json.Marshal(snapshotData{Offset: st.Offset, RegOffsets: st.regOffsets, Image: metadata.EncodeSnapshot(st.Image)})
}

func decodeSnapshot(b []byte) (*State, error) {
	var sd snapshotData
	if err := json.Unmarshal(b, &sd); err != nil {
		return nil, fmt.Errorf("%w: snapshot: %w", metadata.ErrDecode, err)
	}
	img, err := metadata.DecodeSnapshot(sd.Image)
	if err != nil {
		return nil, err
	}
	return newState(img, sd.Offset, sd.RegOffsets), nil
}
