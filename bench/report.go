package bench

import (
	"encoding/json"
	"io"
	"time"
)

// ReportVersion is bumped when the JSON layout changes incompatibly.
const ReportVersion = 1

// Report is the JSON a bench run writes. Field names follow OpenMessaging
// Benchmark's result files where one exists (messageSize,
// partitionsPerTopic, publishRate, aggregatedPublishLatency99pct, …) so
// existing tooling and habits carry over; resource figures are our own.
type Report struct {
	Version   int               `json:"version"`
	StartedAt time.Time         `json:"startedAt"`
	Workload  WorkloadJSON      `json:"workload"`
	Results   []ResultJSON      `json:"results"`
	Summary   []TargetSummary   `json:"summary"`
	Host      map[string]string `json:"host,omitempty"`
}

// WorkloadJSON describes the workload in OpenMessaging Benchmark's terms.
type WorkloadJSON struct {
	Topics                  int     `json:"topics"`
	PartitionsPerTopic      int32   `json:"partitionsPerTopic"`
	ReplicationFactor       int16   `json:"replicationFactor"`
	MessageSize             int     `json:"messageSize"`
	ProducersPerTopic       int     `json:"producersPerTopic"`
	ConsumerPerSubscription int     `json:"consumerPerSubscription"`
	ProducerRate            float64 `json:"producerRate"` // records/s; 0 = closed loop
	EndToEnd                bool    `json:"endToEnd"`
	Records                 int64   `json:"records,omitempty"`
	TestDurationSeconds     float64 `json:"testDurationSeconds,omitempty"`
	WarmupDurationSeconds   float64 `json:"warmupDurationSeconds"`
	Acks                    string  `json:"acks"`
	CompressionType         string  `json:"compressionType"`
	BatchMaxBytes           int32   `json:"batchMaxBytes"`
	LingerMs                float64 `json:"lingerMs"`
}

// ResultJSON is one run, flattened the way OpenMessaging Benchmark's
// TestResult names its aggregates.
type ResultJSON struct {
	// ReplicationFactor and Nodes are the run's own: targets of one
	// comparison may differ in node count.
	ReplicationFactor int16  `json:"replicationFactor,omitempty"`
	Nodes             int    `json:"nodes,omitempty"`
	Driver            string `json:"driver"`
	Round             int    `json:"round"`
	Error             string `json:"error,omitempty"`

	PublishRate          float64 `json:"publishRate"`          // records/s
	PublishThroughputMBs float64 `json:"publishThroughputMBs"` // MiB/s
	PublishErrors        int64   `json:"publishErrors"`
	ConsumeRate          float64 `json:"consumeRate"`
	ConsumeThroughputMBs float64 `json:"consumeThroughputMBs"`
	RecordsPublished     int64   `json:"recordsPublished"`
	RecordsConsumed      int64   `json:"recordsConsumed"`
	// ConsumeGroupJoinMs is the consumer group's join, left out of the
	// consume rate (0 for the single group-less reader).
	ConsumeGroupJoinMs float64 `json:"consumeGroupJoinMs,omitempty"`

	AggregatedPublishLatencyAvg    float64 `json:"aggregatedPublishLatencyAvg"`
	AggregatedPublishLatency50pct  float64 `json:"aggregatedPublishLatency50pct"`
	AggregatedPublishLatency75pct  float64 `json:"aggregatedPublishLatency75pct"`
	AggregatedPublishLatency95pct  float64 `json:"aggregatedPublishLatency95pct"`
	AggregatedPublishLatency99pct  float64 `json:"aggregatedPublishLatency99pct"`
	AggregatedPublishLatency999pct float64 `json:"aggregatedPublishLatency999pct"`
	AggregatedPublishLatencyMax    float64 `json:"aggregatedPublishLatencyMax"`
	// PublishMaxLatencyMsPerSecond is the largest publish latency per
	// second of the run (ProduceResult.MaxLatencyMsPerSecond).
	PublishMaxLatencyMsPerSecond []float64 `json:"publishMaxLatencyMsPerSecond,omitempty"`

	AggregatedEndToEndLatencyAvg    float64 `json:"aggregatedEndToEndLatencyAvg,omitempty"`
	AggregatedEndToEndLatency50pct  float64 `json:"aggregatedEndToEndLatency50pct,omitempty"`
	AggregatedEndToEndLatency95pct  float64 `json:"aggregatedEndToEndLatency95pct,omitempty"`
	AggregatedEndToEndLatency99pct  float64 `json:"aggregatedEndToEndLatency99pct,omitempty"`
	AggregatedEndToEndLatency999pct float64 `json:"aggregatedEndToEndLatency999pct,omitempty"`
	AggregatedEndToEndLatencyMax    float64 `json:"aggregatedEndToEndLatencyMax,omitempty"`

	ProduceRequests        int64   `json:"produceRequests"`
	ProduceRequestAvgBytes float64 `json:"produceRequestAvgBytes"`
	FetchResponses         int64   `json:"fetchResponses"`
	FetchResponseAvgBytes  float64 `json:"fetchResponseAvgBytes"`

	BrokerStartSeconds float64 `json:"brokerStartSeconds"`
	BrokerCPUSeconds   float64 `json:"brokerCpuSeconds"`
	BrokerPeakRSSBytes int64   `json:"brokerPeakRssBytes"`
	BrokerWriteBytes   int64   `json:"brokerWriteBytes"`
	ClientCPUSeconds   float64 `json:"clientCpuSeconds"`
	// LoadAvg1 is the host's one-minute load average at the run's start.
	LoadAvg1 float64 `json:"loadAvg1"`
}

// NewReport assembles the JSON report of runs of w.
func NewReport(startedAt time.Time, w Workload, runs []RunResult) Report {
	rep := Report{
		Version:   ReportVersion,
		StartedAt: startedAt.UTC(),
		Workload: WorkloadJSON{
			Topics: 1, PartitionsPerTopic: w.Partitions, ReplicationFactor: w.ReplicationFactor,
			MessageSize: w.RecordBytes, ProducersPerTopic: w.Producers, ConsumerPerSubscription: consumers(w),
			ProducerRate: w.RatePerSec, EndToEnd: w.EndToEnd, Records: w.Records, TestDurationSeconds: w.Duration.Seconds(),
			WarmupDurationSeconds: w.Warmup.Seconds(), Acks: w.Acks, CompressionType: w.Compression,
			BatchMaxBytes: w.BatchMaxBytes, LingerMs: float64(w.Linger) / float64(time.Millisecond),
		},
		Results: make([]ResultJSON, 0, len(runs)),
		Summary: Summarise(runs),
	}
	if w.Duration > 0 {
		rep.Workload.Records = 0
	}
	if rep.Workload.ReplicationFactor == 0 && len(runs) > 0 {
		// Chosen per target (min(3, nodes)): the first run's stands for
		// the workload; each result carries its own.
		rep.Workload.ReplicationFactor = runs[0].ReplicationFactor
	}
	for _, r := range runs {
		l := r.Produce.Latency
		j := ResultJSON{
			Driver: r.Target, Round: r.Round, Error: r.Err, ReplicationFactor: r.ReplicationFactor, Nodes: r.Nodes,
			PublishRate: r.Produce.RecordsPerSec, PublishThroughputMBs: r.Produce.MBPerSec, PublishErrors: r.Produce.Errors,
			ConsumeRate: r.Consume.RecordsPerSec, ConsumeThroughputMBs: r.Consume.MBPerSec,
			RecordsPublished: r.Produce.TotalRecords, RecordsConsumed: r.Consume.Records, ConsumeGroupJoinMs: r.Consume.JoinMs,
			AggregatedPublishLatencyAvg: l.AvgMs, AggregatedPublishLatency50pct: l.P50Ms,
			AggregatedPublishLatency75pct: l.P75Ms, AggregatedPublishLatency95pct: l.P95Ms,
			AggregatedPublishLatency99pct: l.P99Ms, AggregatedPublishLatency999pct: l.P999Ms,
			AggregatedPublishLatencyMax: l.MaxMs, PublishMaxLatencyMsPerSecond: r.Produce.MaxLatencyMsPerSecond,
			BrokerStartSeconds: r.StartSeconds, ClientCPUSeconds: r.ClientCPUSeconds, LoadAvg1: r.LoadAvg1,
			BrokerWriteBytes: -1,
			ProduceRequests:  r.Produce.Wire.Requests, ProduceRequestAvgBytes: r.Produce.Wire.AvgBytes,
			FetchResponses: r.Consume.Wire.Requests, FetchResponseAvgBytes: r.Consume.Wire.AvgBytes,
		}
		if e := r.Consume.EndToEnd; e.Count > 0 {
			j.AggregatedEndToEndLatencyAvg, j.AggregatedEndToEndLatency50pct = e.AvgMs, e.P50Ms
			j.AggregatedEndToEndLatency95pct, j.AggregatedEndToEndLatency99pct = e.P95Ms, e.P99Ms
			j.AggregatedEndToEndLatency999pct, j.AggregatedEndToEndLatencyMax = e.P999Ms, e.MaxMs
		}
		if r.Measured {
			j.BrokerCPUSeconds, j.BrokerPeakRSSBytes, j.BrokerWriteBytes = r.Broker.CPUSeconds, r.Broker.PeakRSSBytes, r.Broker.WriteBytes
		}
		rep.Results = append(rep.Results, j)
	}
	return rep
}

func consumers(w Workload) int {
	if w.Consume {
		return max(w.Consumers, 1)
	}
	return 0
}

// WriteJSON writes the report indented.
func (r Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}
