package metrics

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/highwater-io/highwater/broker/internal/config"
	"github.com/highwater-io/highwater/broker/internal/topics"
	"github.com/highwater-io/highwater/internal/vfs"
)

func newCatalog(t *testing.T) *topics.Catalog {
	t.Helper()
	props, _, err := config.NewBroker(map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := topics.Open(topics.Options{FS: vfs.OS, Dir: t.TempDir(), Broker: props, Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Handlers call the feeding methods whether or not metrics are on.
func TestNilMetricsIsANoOp(t *testing.T) {
	var m *Metrics
	m.Produced("t", 10, 1)
	m.Fetched(&kmsg.FetchResponse{}, nil)
	m.Request(kmsg.NewPtrProduceRequest(), time.Millisecond)
	m.SetBrokerState(BrokerStateRunning)
}

// Partition gauges follow the catalogue at scrape time, and a topic whose
// min.insync.replicas exceeds the single-node ISR counts as under min ISR.
func TestCatalogGauges(t *testing.T) {
	c := newCatalog(t)
	m := New(c)
	if _, err := c.Create("a", 3, nil, false, false); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Create("strict", 2, map[string]string{"min.insync.replicas": "2"}, false, false); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Create("__internal", 4, nil, true, false); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]float64{
		"kafka_server_replicamanager_partitioncount":              9,
		"kafka_server_replicamanager_leadercount":                 9,
		"kafka_server_replicamanager_underminisrpartitioncount":   2,
		"kafka_server_replicamanager_atminisrpartitioncount":      7,
		"kafka_server_replicamanager_underreplicatedpartitions":   0,
		"kafka_controller_kafkacontroller_offlinepartitionscount": 0,
		"kafka_controller_kafkacontroller_activecontrollercount":  1,
	} {
		if got := gathered(t, m, name); len(got) != 1 || got[0] != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	if n := len(gathered(t, m, "kafka_log_log_size")); n != 9 {
		t.Errorf("kafka_log_log_size has %d series, want 9", n)
	}
	if err := c.Delete("a"); err != nil {
		t.Fatal(err)
	}
	if n := len(gathered(t, m, "kafka_log_log_size")); n != 6 {
		t.Errorf("after deleting a topic kafka_log_log_size has %d series, want 6", n)
	}
}

// Bytes and messages count per topic and for all topics; fetches addressed
// by topic id are named through the catalogue; fetch latency is recorded
// under Fetch and under the fetcher's kind.
func TestCounters(t *testing.T) {
	m := New(newCatalog(t))
	m.Produced("a", 100, 3)
	m.Produced("b", 50, 2)
	id := [16]byte{1}
	resp := &kmsg.FetchResponse{Topics: []kmsg.FetchResponseTopic{
		{Topic: "a", Partitions: []kmsg.FetchResponseTopicPartition{{RecordBatches: make([]byte, 70)}, {RecordBatches: make([]byte, 5)}}},
		{TopicID: id, Partitions: []kmsg.FetchResponseTopicPartition{{RecordBatches: make([]byte, 20)}}},
		{TopicID: [16]byte{2}, Partitions: []kmsg.FetchResponseTopicPartition{{RecordBatches: make([]byte, 1)}}},
	}}
	m.Fetched(resp, func(got [16]byte) (string, bool) { return "b", got == id })
	for _, tc := range []struct {
		got  float64
		want float64
		what string
	}{
		{value(t, m.bytesIn.WithLabelValues("a")), 100, "bytesin a"},
		{value(t, m.bytesIn.WithLabelValues(allTopics)), 150, "bytesin all"},
		{value(t, m.messagesIn.WithLabelValues("b")), 2, "messagesin b"},
		{value(t, m.messagesIn.WithLabelValues(allTopics)), 5, "messagesin all"},
		{value(t, m.bytesOut.WithLabelValues("a")), 75, "bytesout a"},
		{value(t, m.bytesOut.WithLabelValues("b")), 20, "bytesout b (by id)"},
		{value(t, m.bytesOut.WithLabelValues(allTopics)), 96, "bytesout all"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %v, want %v", tc.what, tc.got, tc.want)
		}
	}

	fetch := kmsg.NewPtrFetchRequest()
	fetch.Version = 12
	m.Request(fetch, 3*time.Millisecond)
	follower := kmsg.NewPtrFetchRequest()
	follower.Version, follower.ReplicaID = 12, 2
	m.Request(follower, time.Millisecond)
	if got := value(t, m.requests.WithLabelValues("Fetch", "12")); got != 2 {
		t.Errorf("requests_total{Fetch,12} = %v, want 2", got)
	}
	counts := map[string]uint64{}
	for _, mm := range gatheredMetrics(t, m, "kafka_network_requestmetrics_totaltimems") {
		counts[mm.GetLabel()[0].GetValue()] = mm.GetSummary().GetSampleCount()
	}
	if want := map[string]uint64{"Fetch": 2, "FetchConsumer": 1, "FetchFollower": 1}; len(counts) != 3 ||
		counts["Fetch"] != want["Fetch"] || counts["FetchConsumer"] != 1 || counts["FetchFollower"] != 1 {
		t.Errorf("totaltimems counts %v, want %v", counts, want)
	}
}

func value(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var out dto.Metric
	if err := c.Write(&out); err != nil {
		t.Fatal(err)
	}
	return out.GetCounter().GetValue()
}

func gatheredMetrics(t *testing.T, m *Metrics, name string) []*dto.Metric {
	t.Helper()
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() == name {
			return f.GetMetric()
		}
	}
	return nil
}

// gathered returns the gauge values of one family.
func gathered(t *testing.T, m *Metrics, name string) []float64 {
	t.Helper()
	var out []float64
	for _, mm := range gatheredMetrics(t, m, name) {
		out = append(out, mm.GetGauge().GetValue())
	}
	return out
}
