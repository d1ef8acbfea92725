package metadata

import (
	"errors"
	"testing"

	"pgregory.net/rapid"
)

// genRecord draws records from small ranges so that many of them apply:
// a few topic names and ids, brokers 0..3, partitions 0..2.
func genRecord() *rapid.Generator[Record] {
	ids := rapid.Int32Range(-1, 3)
	idList := rapid.SliceOfN(rapid.Int32Range(-1, 3), 0, 4)
	topicID := rapid.Custom(func(t *rapid.T) UUID {
		var u UUID
		u[0] = byte(rapid.IntRange(0, 3).Draw(t, "topic"))
		return u
	})
	name := rapid.SampledFrom([]string{"a", "b", "c", "", "bad/name"})
	epoch := rapid.Int64Range(-1, 6)
	return rapid.Custom(func(t *rapid.T) Record {
		switch rapid.IntRange(0, 11).Draw(t, "kind") {
		case 0:
			return RegisterBrokerRecord{BrokerID: ids.Draw(t, "id"), BrokerEpoch: epoch.Draw(t, "epoch"),
				Rack: name.Draw(t, "rack"), Fenced: rapid.Bool().Draw(t, "fenced"),
				Endpoints: []Endpoint{{Name: "PLAINTEXT", Host: "127.0.0.1", Port: rapid.Int32Range(-1, 70000).Draw(t, "port")}}}
		case 1:
			return UnregisterBrokerRecord{BrokerID: ids.Draw(t, "id"), BrokerEpoch: epoch.Draw(t, "epoch")}
		case 2:
			return FenceBrokerRecord{BrokerID: ids.Draw(t, "id"), BrokerEpoch: epoch.Draw(t, "epoch")}
		case 3:
			return UnfenceBrokerRecord{BrokerID: ids.Draw(t, "id"), BrokerEpoch: epoch.Draw(t, "epoch")}
		case 4:
			return BrokerRegistrationChangeRecord{BrokerID: ids.Draw(t, "id"), BrokerEpoch: epoch.Draw(t, "epoch"),
				Fenced: FencingChange(rapid.Int8Range(-2, 2).Draw(t, "fencing")), EnterControlledShutdown: rapid.Bool().Draw(t, "shutdown")}
		case 5:
			return TopicRecord{Name: name.Draw(t, "name"), TopicID: topicID.Draw(t, "tid")}
		case 6:
			return PartitionRecord{TopicID: topicID.Draw(t, "tid"), PartitionID: rapid.Int32Range(-1, 2).Draw(t, "p"),
				Replicas: idList.Draw(t, "replicas"), ISR: idList.Draw(t, "isr"), Leader: ids.Draw(t, "leader"),
				LeaderEpoch: rapid.Int32Range(-1, 3).Draw(t, "le"), PartitionEpoch: rapid.Int32Range(-1, 3).Draw(t, "pe")}
		case 7:
			return PartitionChangeRecord{TopicID: topicID.Draw(t, "tid"), PartitionID: rapid.Int32Range(-1, 2).Draw(t, "p"),
				Leader: rapid.Int32Range(-2, 3).Draw(t, "leader"), ISR: idList.Draw(t, "isr"), Replicas: idList.Draw(t, "replicas")}
		case 8:
			return RemoveTopicRecord{TopicID: topicID.Draw(t, "tid")}
		case 9:
			r := ConfigRecord{ResourceType: rapid.SampledFrom([]ConfigResourceType{ResourceTopic, ResourceBroker, 3}).Draw(t, "type"),
				ResourceName: name.Draw(t, "res"), Name: rapid.SampledFrom([]string{"retention.ms", ""}).Draw(t, "key")}
			if rapid.Bool().Draw(t, "set") {
				v := rapid.SampledFrom([]string{"1", "2"}).Draw(t, "value")
				r.Value = &v
			}
			return r
		case 10:
			return ProducerIdsRecord{BrokerID: ids.Draw(t, "id"), NextProducerID: rapid.Int64Range(-1, 5000).Draw(t, "next")}
		default:
			return FeatureLevelRecord{Name: name.Draw(t, "name"), FeatureLevel: rapid.Int16Range(-1, 3).Draw(t, "level")}
		}
	})
}

// TestApplyProperties: whatever records arrive, Apply keeps every image
// invariant and every transition invariant, refuses with ErrInvalid and
// an unchanged image, treats a decoded record exactly as the original,
// and snapshots round-trip.
func TestApplyProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var img Image
		recs := rapid.SliceOfN(genRecord(), 1, 60).Draw(t, "records")
		for _, r := range recs {
			decoded, err := Decode(r.Encode())
			if err != nil {
				t.Fatalf("decode %s: %v", r, err)
			}
			if string(decoded.Encode()) != string(r.Encode()) {
				t.Fatalf("round trip changed %s into %s", r, decoded)
			}
			next, err := Apply(img, r)
			next2, err2 := Apply(img, decoded)
			if (err == nil) != (err2 == nil) || !Equal(next, next2) {
				t.Fatalf("%s: apply %v, decoded apply %v", r, err, err2)
			}
			if err != nil {
				if !errors.Is(err, ErrInvalid) || !Equal(next, img) {
					t.Fatalf("%s: refusal %v changed the image or is not ErrInvalid", r, err)
				}
				continue
			}
			if err := CheckImage(next); err != nil {
				t.Fatalf("after %s: %v", r, err)
			}
			if err := CheckTransition(img, next); err != nil {
				t.Fatalf("after %s: %v", r, err)
			}
			img = next
		}
		back, err := DecodeSnapshot(EncodeSnapshot(img))
		if err != nil || !Equal(back, img) || back.MaxBrokerEpoch() != img.MaxBrokerEpoch() {
			t.Fatalf("snapshot round trip: %v", err)
		}
		batch, err := DecodeBatch(EncodeBatch(recs))
		if err != nil || len(batch) != len(recs) {
			t.Fatalf("batch round trip: %v", err)
		}
	})
}

// TestApplyDoesNotModifyItsInput: an image handed out stays as it was.
func TestApplyDoesNotModifyItsInput(t *testing.T) {
	tid := UUID{1}
	img, _ := Apply(Image{}, TopicRecord{Name: "t", TopicID: tid})
	img, _ = Apply(img, PartitionRecord{TopicID: tid, Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Leader: 1})
	before := EncodeSnapshot(img)
	next, err := Apply(img, PartitionChangeRecord{TopicID: tid, Leader: 2, ISR: []int32{2}})
	if err != nil {
		t.Fatal(err)
	}
	if string(EncodeSnapshot(img)) != string(before) {
		t.Fatal("Apply changed the image it was given")
	}
	p, _ := next.Partition(tid, 0)
	if p.Leader != 2 || p.LeaderEpoch != 1 || p.PartitionEpoch != 1 {
		t.Fatalf("leader change: got %+v, want leader 2 at epochs 1/1", p)
	}
	next, _ = Apply(next, PartitionChangeRecord{TopicID: tid, Leader: NoLeaderChange, ISR: []int32{1, 2}})
	p, _ = next.Partition(tid, 0)
	if p.LeaderEpoch != 1 || p.PartitionEpoch != 2 {
		t.Fatalf("isr change: got %+v, want leader epoch kept at 1, partition epoch 2", p)
	}
	if _, err := Apply(next, PartitionChangeRecord{TopicID: tid, Leader: 3}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("leader outside the isr: %v", err)
	}
}

func FuzzDecode(f *testing.F) {
	v := "1"
	for _, r := range []Record{
		RegisterBrokerRecord{BrokerID: 1, BrokerEpoch: 2, Rack: "az-a", Endpoints: []Endpoint{{Name: "PLAINTEXT", Host: "h", Port: 9092}}},
		PartitionRecord{TopicID: UUID{1}, Replicas: []int32{1, 2}, ISR: []int32{1}, Leader: 1},
		PartitionChangeRecord{TopicID: UUID{1}, Leader: NoLeaderChange, ISR: []int32{1, 2}},
		ConfigRecord{ResourceType: ResourceTopic, ResourceName: "t", Name: "retention.ms", Value: &v},
		TopicRecord{Name: "t", TopicID: UUID{1}},
	} {
		f.Add(r.Encode())
	}
	f.Add([]byte(`{"v":1,"type":"topic","record":null}`))
	f.Add([]byte(`{"v":2,"type":"topic","record":{}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := Decode(b)
		if err != nil {
			if !errors.Is(err, ErrDecode) {
				t.Fatalf("error %v is not ErrDecode", err)
			}
			return
		}
		again, err := Decode(r.Encode())
		if err != nil || string(again.Encode()) != string(r.Encode()) {
			t.Fatalf("re-encoding %s does not round-trip: %v", r, err)
		}
		_, _ = Apply(Image{}, r) // must not panic
		_, _ = DecodeBatch(b)
		_, _ = DecodeSnapshot(b)
	})
}
