package broker

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The /metrics endpoint parses as the Prometheus text format and carries
// Kafka's Strimzi-named series with values that follow produce and fetch.
func TestMetricsEndpoint(t *testing.T) {
	const (
		topic      = "metered"
		partitions = 3
		records    = 40
		valueBytes = 100
	)
	cfg := DefaultConfig()
	cfg.Properties = props(t.TempDir(), "highwater.metrics.listener", "127.0.0.1:0")
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	runCtx, stop := context.WithCancel(ctx)
	ran := make(chan error, 1)
	go func() { ran <- b.Run(runCtx) }()
	defer func() {
		stop()
		if err := <-ran; err != nil {
			t.Errorf("Run: %v", err)
		}
		if err := b.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}()
	if b.MetricsAddr() == nil {
		t.Fatal("MetricsAddr is nil with highwater.metrics.listener set")
	}

	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr().String()), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.ProducerLinger(0),
		kgo.ProducerBatchCompression(kgo.NoCompression())) // so bytes in >= records*valueBytes
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, partitions, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	value := []byte(strings.Repeat("v", valueBytes))
	for i := range records {
		r := &kgo.Record{Topic: topic, Key: fmt.Appendf(nil, "k%d", i), Value: value}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	for got := 0; got < records; {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		got += fs.NumRecords()
	}
	listed, err := adm.ListTopicsWithInternal(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantPartitions := 0
	for _, d := range listed {
		wantPartitions += len(d.Partitions)
	}

	fams := scrape(t, ctx, "http://"+b.MetricsAddr().String()+"/metrics")
	check := func(name string, labels map[string]string, ok func(float64) bool, want string) {
		t.Helper()
		v, found := value1(fams, name, labels)
		if !found {
			t.Errorf("%s%v missing", name, labels)
		} else if !ok(v) {
			t.Errorf("%s%v = %v, want %s", name, labels, v, want)
		}
	}
	eq := func(want float64) (func(float64) bool, string) {
		return func(v float64) bool { return v == want }, fmt.Sprint(want)
	}
	atLeast := func(min float64) (func(float64) bool, string) {
		return func(v float64) bool { return v >= min }, fmt.Sprintf(">= %v", min)
	}
	for _, tc := range []struct {
		name   string
		labels map[string]string
		ok     func(float64) bool
		want   string
	}{
		{"kafka_server_brokertopicmetrics_messagesin_total", map[string]string{"topic": topic}, nil, ""},
		{"kafka_server_brokertopicmetrics_messagesin_total", map[string]string{"topic": ""}, nil, ""},
	} {
		tc.ok, tc.want = eq(records)
		check(tc.name, tc.labels, tc.ok, tc.want)
	}
	for _, lbl := range []string{topic, ""} {
		ok, want := atLeast(records * valueBytes)
		check("kafka_server_brokertopicmetrics_bytesin_total", map[string]string{"topic": lbl}, ok, want)
		ok, want = atLeast(records * valueBytes)
		check("kafka_server_brokertopicmetrics_bytesout_total", map[string]string{"topic": lbl}, ok, want)
	}
	gauges := map[string]float64{
		"kafka_server_replicamanager_partitioncount":              float64(wantPartitions),
		"kafka_server_replicamanager_leadercount":                 float64(wantPartitions),
		"kafka_server_replicamanager_underreplicatedpartitions":   0,
		"kafka_server_replicamanager_underminisrpartitioncount":   0,
		"kafka_controller_kafkacontroller_offlinepartitionscount": 0,
		"kafka_controller_kafkacontroller_activecontrollercount":  1,
		"kafka_server_replicamanager_isrshrinks_total":            0,
		"kafka_server_replicamanager_isrexpands_total":            0,
		"kafka_server_kafkaserver_brokerstate":                    3,
	}
	for name, want := range gauges {
		ok, w := eq(want)
		check(name, nil, ok, w)
	}
	if wantPartitions <= partitions {
		t.Errorf("ListTopicsWithInternal found %d partitions; __consumer_offsets should count too", wantPartitions)
	}
	for _, req := range []string{"Produce", "Fetch", "Metadata"} {
		if v := sumOver(fams, "kafka_network_requestmetrics_requests_total", map[string]string{"request": req}); v <= 0 {
			t.Errorf("requests_total{request=%q} = %v, want > 0", req, v)
		}
	}
	for _, req := range []string{"Produce", "Fetch", "FetchConsumer"} {
		ok, want := atLeast(1)
		check("kafka_network_requestmetrics_totaltimems_count", map[string]string{"request": req}, ok, want)
		if _, found := value1(fams, "kafka_network_requestmetrics_totaltimems", map[string]string{"request": req, "quantile": "0.99"}); !found {
			t.Errorf("totaltimems{request=%q,quantile=0.99} missing", req)
		}
	}
	var logBytes float64
	for p := range partitions {
		v, found := value1(fams, "kafka_log_log_size", map[string]string{"topic": topic, "partition": fmt.Sprint(p)})
		if !found {
			t.Errorf("kafka_log_log_size{topic=%q,partition=%d} missing", topic, p)
		}
		logBytes += v
	}
	if logBytes < records*valueBytes {
		t.Errorf("log sizes of %s sum to %v bytes, want >= %d", topic, logBytes, records*valueBytes)
	}
}

// Without highwater.metrics.listener nothing is served.
func TestMetricsListenerOff(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Properties = props(t.TempDir())
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if addr := b.MetricsAddr(); addr != nil {
		t.Errorf("MetricsAddr = %v with the listener unset", addr)
	}
	cfg.Properties = props(t.TempDir(), "highwater.metrics.listener", "no-port")
	if b2, err := New(cfg); err == nil {
		b2.Close()
		t.Error("highwater.metrics.listener=no-port accepted")
	} else if !strings.Contains(err.Error(), "highwater.metrics.listener") {
		t.Errorf("error %q does not name the key", err)
	}
}

// scrape fetches url and parses it as the Prometheus text format.
func scrape(t *testing.T, ctx context.Context, url string) map[string]*dto.MetricFamily {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/plain; version=0.0.4")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	return fams
}

// matching returns the samples of a family (or of a summary's _count) whose
// labels include want.
func matching(fams map[string]*dto.MetricFamily, name string, want map[string]string) []float64 {
	famName, part := name, ""
	if base, ok := strings.CutSuffix(name, "_count"); ok && fams[name] == nil {
		famName, part = base, "count"
	}
	var out []float64
	for _, m := range fams[famName].GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		quantile, wantQuantile := want["quantile"]
		match := true
		for k, v := range want {
			if k != "quantile" && have[k] != v {
				match = false
			}
		}
		if !match {
			continue
		}
		switch {
		case m.Counter != nil:
			out = append(out, m.GetCounter().GetValue())
		case m.Gauge != nil:
			out = append(out, m.GetGauge().GetValue())
		case m.Summary != nil && part == "count":
			out = append(out, float64(m.GetSummary().GetSampleCount()))
		case m.Summary != nil && wantQuantile:
			for _, q := range m.GetSummary().GetQuantile() {
				if fmt.Sprint(q.GetQuantile()) == quantile {
					out = append(out, q.GetValue())
				}
			}
		case m.Untyped != nil:
			out = append(out, m.GetUntyped().GetValue())
		}
	}
	return out
}

// value1 is the single sample matching name and labels.
func value1(fams map[string]*dto.MetricFamily, name string, labels map[string]string) (float64, bool) {
	vs := matching(fams, name, labels)
	if len(vs) != 1 {
		return 0, false
	}
	return vs[0], true
}

func sumOver(fams map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	var sum float64
	for _, v := range matching(fams, name, labels) {
		sum += v
	}
	return sum
}
