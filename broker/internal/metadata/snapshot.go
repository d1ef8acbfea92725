package metadata

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
)

// Records returns records that rebuild img from the empty image, in a
// deterministic order: features, brokers by id, topics by name (each with
// its partitions and configs), broker configs, producer ids. This is what a
// snapshot holds, as in KRaft, so a snapshot is checked by the same Apply
// as the log.
func (img Image) Records() []Record {
	var out []Record
	for _, name := range slices.Sorted(maps.Keys(img.features)) {
		out = append(out, FeatureLevelRecord{Name: name, FeatureLevel: img.features[name]})
	}
	for _, b := range img.Brokers() {
		out = append(out, RegisterBrokerRecord{BrokerID: b.ID, BrokerEpoch: b.Epoch, IncarnationID: b.IncarnationID,
			Rack: b.Rack, Endpoints: slices.Clone(b.Endpoints), Fenced: b.Fenced, InControlledShutdown: b.InControlledShutdown})
	}
	for _, t := range img.Topics() {
		out = append(out, TopicRecord{Name: t.Name, TopicID: t.ID})
		for i, p := range t.Partitions {
			out = append(out, PartitionRecord{TopicID: t.ID, PartitionID: int32(i), Replicas: slices.Clone(p.Replicas),
				ISR: slices.Clone(p.ISR), Leader: p.Leader, LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch, UncleanISR: p.UncleanISR})
		}
	}
	for _, res := range img.ConfigResources() {
		kv := img.configs[res]
		for _, k := range slices.Sorted(maps.Keys(kv)) {
			v := kv[k]
			out = append(out, ConfigRecord{ResourceType: res.Type, ResourceName: res.Name, Name: k, Value: &v})
		}
	}
	if img.nextProducerID > 0 {
		out = append(out, ProducerIdsRecord{BrokerID: -1, BrokerEpoch: -1, NextProducerID: img.nextProducerID})
	}
	return out
}

// snapshot is the encoded form of an image: its records plus what records
// cannot carry (the largest broker epoch ever handed out, which outlives an
// unregistered broker).
type snapshot struct {
	V              int               `json:"v"`
	MaxBrokerEpoch int64             `json:"maxBrokerEpoch"`
	Records        []json.RawMessage `json:"records"`
}

// EncodeSnapshot encodes img for a raft snapshot. Equal images encode to
// equal bytes.
func EncodeSnapshot(img Image) []byte {
	recs := img.Records()
	raws := make([]json.RawMessage, len(recs))
	for i, r := range recs {
		raws[i] = r.Encode()
	}
	out, _ := json.Marshal(snapshot{V: recordVersion, MaxBrokerEpoch: img.maxBrokerEpoch, Records: raws})
	return out
}

// DecodeSnapshot rebuilds an image from EncodeSnapshot's bytes, applying
// (and so validating) every record.
func DecodeSnapshot(b []byte) (Image, error) {
	var s snapshot
	if err := strictUnmarshal(b, &s); err != nil {
		return Image{}, err
	}
	if s.V != recordVersion {
		return Image{}, fmt.Errorf("%w: snapshot version %d", ErrDecode, s.V)
	}
	var img Image
	for i, raw := range s.Records {
		r, err := Decode(raw)
		if err != nil {
			return Image{}, fmt.Errorf("snapshot record %d: %w", i, err)
		}
		if img, err = Apply(img, r); err != nil {
			return Image{}, fmt.Errorf("%w: snapshot record %d: %w", ErrDecode, i, err)
		}
	}
	if s.MaxBrokerEpoch < img.maxBrokerEpoch {
		return Image{}, fmt.Errorf("%w: snapshot max broker epoch %d below a registered %d", ErrDecode, s.MaxBrokerEpoch, img.maxBrokerEpoch)
	}
	img.maxBrokerEpoch = s.MaxBrokerEpoch
	return img, nil
}

// Equal reports whether two images hold the same metadata.
func Equal(a, b Image) bool { return bytes.Equal(EncodeSnapshot(a), EncodeSnapshot(b)) }
