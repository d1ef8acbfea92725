package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/highwater-io/highwater/broker/internal/topics"
)

// BrokerState values, numbered as Kafka's BrokerState enum.
const (
	BrokerStateNotRunning   = 0
	BrokerStateStarting     = 1
	BrokerStateRunning      = 3
	BrokerStateShuttingDown = 7
)

// allTopics is the topic label of the all-topics BrokerTopicMetrics series;
// Prometheus stores an empty label as an absent one (see doc.go).
const allTopics = ""

// Metrics is one broker's registry and the series the handlers feed.
type Metrics struct {
	reg *prometheus.Registry

	bytesIn    *prometheus.CounterVec
	bytesOut   *prometheus.CounterVec
	messagesIn *prometheus.CounterVec
	requests   *prometheus.CounterVec
	totalTime  *prometheus.SummaryVec
	state      prometheus.Gauge
	isrShrinks prometheus.Counter
	isrExpands prometheus.Counter
	collector  *catalogCollector
}

// New returns a Metrics whose partition gauges read catalog at scrape time.
// The registry also holds the Go runtime and process collectors.
func New(catalog *topics.Catalog) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	topicCounter := func(name, help string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, []string{"topic"})
	}
	m.bytesIn = topicCounter("kafka_server_brokertopicmetrics_bytesin_total",
		"Bytes of record batches appended by Produce (topic=\"\": all topics).")
	m.bytesOut = topicCounter("kafka_server_brokertopicmetrics_bytesout_total",
		"Record bytes sent in Fetch responses (topic=\"\": all topics).")
	m.messagesIn = topicCounter("kafka_server_brokertopicmetrics_messagesin_total",
		"Records appended by Produce (topic=\"\": all topics).")
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kafka_network_requestmetrics_requests_total",
		Help: "Requests answered, by API name and version.",
	}, []string{"request", "version"})
	m.totalTime = prometheus.NewSummaryVec(prometheus.SummaryOpts{
		Name:       "kafka_network_requestmetrics_totaltimems",
		Help:       "Request time in milliseconds from dispatch to response, by API name.",
		Objectives: map[float64]float64{0.5: 0.05, 0.75: 0.02, 0.95: 0.005, 0.98: 0.002, 0.99: 0.001, 0.999: 0.0001},
		MaxAge:     10 * time.Minute,
	}, []string{"request"})
	m.state = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "kafka_server_kafkaserver_brokerstate",
		Help: "Broker state as Kafka numbers it: 1 starting, 3 running, 7 shutting down.",
	})
	m.state.Set(BrokerStateStarting)
	isr := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	}
	// Zero on a single node (the ISR never changes) but present, as in
	// Kafka; in cluster mode the leader counts committed ISR changes.
	m.isrShrinks = isr("kafka_server_replicamanager_isrshrinks_total", "ISR shrinks committed by partitions this broker leads (always 0 on a single node).")
	m.isrExpands = isr("kafka_server_replicamanager_isrexpands_total", "ISR expansions committed by partitions this broker leads (always 0 on a single node).")
	for _, c := range []*prometheus.CounterVec{m.bytesIn, m.bytesOut, m.messagesIn} {
		c.WithLabelValues(allTopics) // the all-topics series exist from the start
	}
	m.collector = newCatalogCollector(catalog)
	m.reg.MustRegister(m.bytesIn, m.bytesOut, m.messagesIn, m.requests, m.totalTime, m.state,
		m.isrShrinks, m.isrExpands, m.collector,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Registry is the broker's registry (for tests and extra collectors).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// SetBrokerState records the broker's lifecycle state (BrokerState*).
func (m *Metrics) SetBrokerState(state int) {
	if m == nil {
		return
	}
	m.state.Set(float64(state))
}

// IsrShrunk counts one committed ISR shrink of a partition led here.
func (m *Metrics) IsrShrunk() {
	if m != nil {
		m.isrShrinks.Inc()
	}
}

// IsrExpanded counts one committed ISR expansion of a partition led here.
func (m *Metrics) IsrExpanded() {
	if m != nil {
		m.isrExpands.Inc()
	}
}

// Produced counts one appended batch of sizeBytes holding records records.
func (m *Metrics) Produced(topic string, sizeBytes, records int) {
	if m == nil {
		return
	}
	for _, t := range []string{topic, allTopics} {
		m.bytesIn.WithLabelValues(t).Add(float64(sizeBytes))
		m.messagesIn.WithLabelValues(t).Add(float64(records))
	}
}

// Fetched counts the record bytes of a Fetch response. Topics addressed by
// id (v13+) are named through topicName; unknown ones count only in the
// all-topics series.
func (m *Metrics) Fetched(resp *kmsg.FetchResponse, topicName func(id [16]byte) (string, bool)) {
	if m == nil || resp == nil {
		return
	}
	total := 0
	for _, t := range resp.Topics {
		n := 0
		for _, p := range t.Partitions {
			n += len(p.RecordBatches)
		}
		if n == 0 {
			continue
		}
		total += n
		name := t.Topic
		if name == "" && topicName != nil {
			if n, ok := topicName(t.TopicID); ok {
				name = n
			}
		}
		if name != "" {
			m.bytesOut.WithLabelValues(name).Add(float64(n))
		}
	}
	m.bytesOut.WithLabelValues(allTopics).Add(float64(total))
}

// Request records one answered request and how long it took.
func (m *Metrics) Request(req kmsg.Request, took time.Duration) {
	if m == nil || req == nil {
		return
	}
	name := kmsg.Key(req.Key()).Name()
	ms := float64(took) / float64(time.Millisecond)
	m.requests.WithLabelValues(name, strconv.Itoa(int(req.GetVersion()))).Inc()
	m.totalTime.WithLabelValues(name).Observe(ms)
	if f, ok := req.(*kmsg.FetchRequest); ok {
		// Kafka also records fetches under the kind of fetcher.
		kind := "FetchConsumer"
		if f.ReplicaID >= 0 || f.ReplicaState.ID >= 0 {
			kind = "FetchFollower"
		}
		m.totalTime.WithLabelValues(kind).Observe(ms)
	}
}

// Serve answers /metrics on ln until ctx is done, then shuts the server
// down. It closes ln.
func (m *Metrics) Serve(ctx context.Context, ln net.Listener, log *slog.Logger) error {
	mux := http.NewServeMux()
	mux.Handle("/metrics", m.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	if log != nil {
		srv.ErrorLog = slog.NewLogLogger(log.Handler(), slog.LevelWarn)
	}
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		select {
		case <-ctx.Done():
		case <-done:
		}
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdownCtx)
	}()
	err := srv.Serve(ln)
	close(done)
	<-stopped
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("metrics listener: %w", err)
}
