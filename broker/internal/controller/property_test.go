package controller

import (
	"slices"
	"testing"

	"pgregory.net/rapid"

	"github.com/highwater-io/highwater/broker/internal/metadata"
)

// TestControllerProperties drives a controller with random operations
// (registrations, heartbeats, silence, topic admin, ISR proposals at right
// and wrong epochs, elections, config changes) and checks after each one:
// metadata's image and transition invariants, the decision invariants (no
// inactive leader; inactive brokers only as a last ISR member; no leaderless
// partition with an active ISR member), that a follower applying the
// decoded records reaches the same image, and that the image survives a
// snapshot round trip; and after a registration following an unclean
// shutdown, that the broker leads nothing and shares no ISR (KIP-966).
func TestControllerProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		cfg := DefaultConfig()
		cfg.Seed = rapid.Uint64().Draw(t, "seed")
		cfg.LeaderImbalanceCheckIntervalMs = 20_000
		cfg.UncleanLeaderElectionEnable = rapid.Bool().Draw(t, "unclean")
		c, err := New(cfg, metadata.Image{}, 0)
		if err != nil {
			t.Fatal(err)
		}
		var follower metadata.Image
		nowMs := int64(0)
		brokerID := rapid.Int32Range(0, 4)
		topic := rapid.SampledFrom([]string{"a", "b", "c"})
		racks := rapid.SampledFrom([]string{"az-a", "az-b", "az-c", ""})
		// Start from a live cluster so that most operations have something
		// to act on; later steps may kill, restart and add brokers.
		for i, rack := range []string{"az-a", "az-b", "az-c"} {
			_, recs, _ := c.RegisterBroker(Registration{BrokerID: int32(i), Rack: rack}, 0)
			follower = applyAll(t, follower, recs)
			_, recs, _ = c.Heartbeat(Heartbeat{BrokerID: int32(i), BrokerEpoch: int64(i + 1), CaughtUp: true}, 0)
			follower = applyAll(t, follower, recs)
		}
		steps := rapid.IntRange(1, 80).Draw(t, "steps")
		for range steps {
			before := c.Image()
			var recs []metadata.Record
			var err error
			switch rapid.IntRange(0, 11).Draw(t, "op") {
			case 0:
				reg := Registration{BrokerID: brokerID.Draw(t, "id"), Rack: racks.Draw(t, "rack"), PreviousBrokerEpoch: NoPreviousBrokerEpoch}
				reg.IncarnationID[0] = byte(rapid.IntRange(0, 2).Draw(t, "inc"))
				old, existed := c.Image().Broker(reg.BrokerID)
				if rapid.Bool().Draw(t, "clean") {
					reg.PreviousBrokerEpoch = old.Epoch
				}
				_, recs, err = c.RegisterBroker(reg, nowMs)
				if err == nil && existed && old.IncarnationID != reg.IncarnationID && reg.PreviousBrokerEpoch != old.Epoch {
					checkUncleanRegistration(t, c.Image(), reg.BrokerID)
				}
			case 1:
				// Everyone but a victim heartbeats, caught up.
				victim := brokerID.Draw(t, "victim")
				for _, b := range c.Image().Brokers() {
					if b.ID == victim {
						continue
					}
					_, rs, herr := c.Heartbeat(Heartbeat{BrokerID: b.ID, BrokerEpoch: b.Epoch, CaughtUp: true}, nowMs)
					if herr != nil {
						t.Fatal(herr)
					}
					recs = append(recs, rs...)
				}
			case 2:
				id := brokerID.Draw(t, "id")
				b, _ := c.Image().Broker(id)
				hb := Heartbeat{BrokerID: id, BrokerEpoch: b.Epoch, CaughtUp: rapid.Bool().Draw(t, "caught-up"),
					WantFence: rapid.IntRange(0, 9).Draw(t, "fence") == 0, WantShutDown: rapid.IntRange(0, 5).Draw(t, "shutdown") == 0}
				_, recs, err = c.Heartbeat(hb, nowMs)
			case 3:
				nowMs += rapid.Int64Range(0, 6_000).Draw(t, "ms")
				recs, err = c.Tick(nowMs)
			case 4:
				req := CreateTopic{Name: topic.Draw(t, "topic"), NumPartitions: rapid.Int32Range(0, 4).Draw(t, "n"),
					ReplicationFactor: int16(rapid.IntRange(0, 4).Draw(t, "rf"))}
				if rapid.Bool().Draw(t, "topic-unclean") {
					req.Configs = map[string]string{"unclean.leader.election.enable": "true"}
				}
				_, recs, err = c.CreateTopics([]CreateTopic{req})
			case 5:
				_, recs, err = c.CreatePartitions([]CreatePartitions{{Topic: topic.Draw(t, "topic"), Count: rapid.Int32Range(0, 6).Draw(t, "count")}})
			case 6:
				_, recs, err = c.DeleteTopics([]string{topic.Draw(t, "topic")}, nil)
			case 7:
				v := rapid.SampledFrom([]string{"true", "false"}).Draw(t, "v")
				_, recs, err = c.AlterConfigs([]AlterConfig{{Resource: metadata.ConfigResource{Type: metadata.ResourceTopic, Name: topic.Draw(t, "topic")},
					Ops: []ConfigOp{{Key: "unclean.leader.election.enable", Value: v}}}})
			case 8, 10, 11:
				recs, err = alterRandomISR(t, c)
			default:
				typ := ElectionType(rapid.IntRange(0, 1).Draw(t, "type"))
				_, recs, err = c.ElectLeaders(typ, nil)
			}
			if err != nil && !isRequestError(err) {
				t.Fatalf("decision failed: %v", err)
			}
			after := c.Image()
			if err := metadata.CheckImage(after); err != nil {
				t.Fatal(err)
			}
			if err := metadata.CheckTransition(before, after); err != nil {
				t.Fatal(err)
			}
			if err := checkControllerInvariants(after); err != nil {
				t.Fatal(err)
			}
			decoded, err := metadata.DecodeBatch(metadata.EncodeBatch(recs))
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range decoded {
				if follower, err = metadata.Apply(follower, r); err != nil {
					t.Fatalf("follower: %v", err)
				}
			}
			if !metadata.Equal(follower, after) {
				t.Fatal("follower image differs from the controller's")
			}
		}
		back, err := metadata.DecodeSnapshot(metadata.EncodeSnapshot(c.Image()))
		if err != nil || !metadata.Equal(back, c.Image()) {
			t.Fatalf("snapshot round trip: %v", err)
		}
	})
}

func isRequestError(err error) bool {
	return Code(err) != Code(ErrInternal)
}

// alterRandomISR sends an AlterPartition from a random broker for a random
// partition with a random ISR, at the current epochs or one off.
func alterRandomISR(t *rapid.T, c *Controller) ([]metadata.Record, error) {
	topics := c.Image().Topics()
	if len(topics) == 0 {
		return nil, nil
	}
	tp := rapid.SampledFrom(topics).Draw(t, "alter-topic")
	pid := rapid.IntRange(0, len(tp.Partitions)-1).Draw(t, "alter-partition")
	p := tp.Partitions[pid]
	from := p.Leader
	if rapid.IntRange(0, 4).Draw(t, "other-broker") == 0 {
		from = rapid.Int32Range(0, 4).Draw(t, "from")
	}
	b, _ := c.Image().Broker(from)
	isr := rapid.SliceOfNDistinct(rapid.SampledFrom(p.Replicas), 1, len(p.Replicas), func(x int32) int32 { return x }).Draw(t, "isr")
	if rapid.IntRange(0, 3).Draw(t, "plausible-isr") > 0 {
		// What a real leader proposes: itself plus followers that are
		// active.
		isr = []int32{p.Leader}
		for _, r := range p.Replicas {
			if r != p.Leader && active(c.Image(), r) && rapid.Bool().Draw(t, "keep") {
				isr = append(isr, r)
			}
		}
	}
	item := AlterPartitionItem{TopicID: tp.ID, PartitionID: int32(pid), ISR: isr,
		LeaderEpoch:    p.LeaderEpoch + rapid.SampledFrom([]int32{0, 0, 0, -1, 1}).Draw(t, "le-skew"),
		PartitionEpoch: p.PartitionEpoch + rapid.SampledFrom([]int32{0, 0, 0, -1, 1}).Draw(t, "pe-skew")}
	_, recs, err := c.AlterPartition(from, b.Epoch, []AlterPartitionItem{item})
	return recs, err
}

func applyAll(t *rapid.T, img metadata.Image, recs []metadata.Record) metadata.Image {
	for _, r := range recs {
		var err error
		if img, err = metadata.Apply(img, r); err != nil {
			t.Fatal(err)
		}
	}
	return img
}

// checkUncleanRegistration: after a registration following an unclean
// shutdown (KIP-966) the broker is in no ISR with other members and leads
// nothing.
func checkUncleanRegistration(t *rapid.T, img metadata.Image, id int32) {
	for _, tp := range img.Topics() {
		for i, p := range tp.Partitions {
			if p.Leader == id {
				t.Fatalf("%s-%d: uncleanly restarted broker %d leads", tp.Name, i, id)
			}
			if len(p.ISR) > 1 && slices.Contains(p.ISR, id) {
				t.Fatalf("%s-%d: uncleanly restarted broker %d in isr %v", tp.Name, i, id, p.ISR)
			}
		}
	}
}
