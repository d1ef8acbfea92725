package conformance

import (
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// maxMetadataVersion caps Metadata at the newest version kmsg knows.
const maxMetadataVersion = 12

// TestMetadataShape: Metadata names the brokers (for a broker we start:
// exactly one, at its advertised listener, with node.id), a cluster id, a
// controller, topic ids and leader epochs; a null topic list means every
// topic and an empty one means none.
func TestMetadataShape(t *testing.T) {
	tg := newTarget(t, nil)
	ctx := testCtx(t, 30*time.Second)
	topic := tg.createTopic(ctx, 2, nil)
	c := dialRaw(t, tg.Bootstrap)
	version := c.version(kmsg.Metadata, maxMetadataVersion)
	if version < 1 {
		t.Fatalf("broker supports only Metadata v0")
	}

	req := kmsg.NewPtrMetadataRequest()
	req.Version = version
	req.Topics = nil // all topics
	resp := c.roundTrip(req).(*kmsg.MetadataResponse)
	if len(resp.Brokers) == 0 {
		t.Fatal("no brokers in metadata")
	}
	for _, b := range resp.Brokers {
		if b.Host == "" || b.Port <= 0 || b.NodeID < 0 {
			t.Errorf("broker entry %+v", b)
		}
	}
	if tg.Node != nil || kafkaPass() { // a node this run started: one broker, id 1
		b := resp.Brokers[0]
		if len(resp.Brokers) != 1 || b.NodeID != 1 || net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port))) != tg.Bootstrap {
			t.Errorf("brokers %+v, want one: node 1 at %s", resp.Brokers, tg.Bootstrap)
		}
	}
	if version >= 2 && (resp.ClusterID == nil || *resp.ClusterID == "") {
		t.Error("no cluster id")
	}
	if resp.ControllerID < 0 {
		t.Errorf("controller id %d", resp.ControllerID)
	}
	var found *kmsg.MetadataResponseTopic
	for i := range resp.Topics {
		if resp.Topics[i].Topic != nil && *resp.Topics[i].Topic == topic {
			found = &resp.Topics[i]
		}
	}
	if found == nil {
		t.Fatalf("all-topics metadata lacks %s", topic)
	}
	if version >= 10 && found.TopicID == [16]byte{} {
		t.Error("zero topic id")
	}
	if len(found.Partitions) != 2 {
		t.Fatalf("%d partitions, want 2", len(found.Partitions))
	}
	for _, p := range found.Partitions {
		if p.ErrorCode != 0 || p.Leader < 0 || (version >= 7 && p.LeaderEpoch < 0) {
			t.Errorf("partition %+v", p)
		}
	}

	// An empty (non-null) topic list asks for no topics.
	req = kmsg.NewPtrMetadataRequest()
	req.Version = version
	req.Topics = []kmsg.MetadataRequestTopic{}
	resp = c.roundTrip(req).(*kmsg.MetadataResponse)
	if len(resp.Topics) != 0 {
		t.Errorf("metadata for an empty topic list returned %d topics, want none", len(resp.Topics))
	}
	if len(resp.Brokers) == 0 {
		t.Error("metadata for an empty topic list returned no brokers")
	}
}
