package metrics

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/highwater-io/highwater/broker/internal/topics"
)

// The single node's replication topology: it leads every partition, each
// partition has one replica, and the ISR is that replica. In cluster mode
// a Topology says instead (topology.go).
const (
	replicasPerPartition = 1
	isrSize              = 1
	activeControllers    = 1
)

// catalogCollector computes the partition gauges from the catalogue at
// scrape time.
type catalogCollector struct {
	catalog  *topics.Catalog
	topology Topology // nil: single node

	partitionCount, leaderCount, underReplicated, underMinISR, atMinISR *prometheus.Desc
	offline, activeController                                           *prometheus.Desc
	logSize, logEndOffset, logStartOffset                               *prometheus.Desc
}

func newCatalogCollector(catalog *topics.Catalog) *catalogCollector {
	desc := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	part := []string{"topic", "partition"}
	return &catalogCollector{
		catalog:          catalog,
		partitionCount:   desc("kafka_server_replicamanager_partitioncount", "Partitions with a replica on this broker, internal topics included."),
		leaderCount:      desc("kafka_server_replicamanager_leadercount", "Partitions this broker leads."),
		underReplicated:  desc("kafka_server_replicamanager_underreplicatedpartitions", "Led partitions whose ISR is smaller than their replica set."),
		underMinISR:      desc("kafka_server_replicamanager_underminisrpartitioncount", "Led partitions whose ISR is smaller than min.insync.replicas."),
		atMinISR:         desc("kafka_server_replicamanager_atminisrpartitioncount", "Led partitions whose ISR equals min.insync.replicas."),
		offline:          desc("kafka_controller_kafkacontroller_offlinepartitionscount", "Partitions without a live leader."),
		activeController: desc("kafka_controller_kafkacontroller_activecontrollercount", "1 on the active controller."),
		logSize:          desc("kafka_log_log_size", "Bytes of the partition's log segments.", part...),
		logEndOffset:     desc("kafka_log_log_logendoffset", "The partition's log end offset.", part...),
		logStartOffset:   desc("kafka_log_log_logstartoffset", "The partition's log start offset.", part...),
	}
}

// Describe implements prometheus.Collector.
func (c *catalogCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.partitionCount, c.leaderCount, c.underReplicated, c.underMinISR,
		c.atMinISR, c.offline, c.activeController, c.logSize, c.logEndOffset, c.logStartOffset} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *catalogCollector) Collect(ch chan<- prometheus.Metric) {
	var partitions, leaders, underReplicated, underMinISR, atMinISR int
	for _, t := range c.catalog.List() {
		minISR := int(c.catalog.Broker().TopicInt64(t.Configs(), "min.insync.replicas"))
		for _, p := range t.Partitions() {
			partitions++
			leader, replicas, isr := true, replicasPerPartition, isrSize
			if c.topology != nil {
				var ok bool
				if leader, replicas, isr, ok = c.topology.Partition(t.ID, p.Index); !ok {
					leader = false
				}
			}
			if leader { // Kafka counts these on the leader only
				leaders++
				if isr < replicas {
					underReplicated++
				}
				switch {
				case isr < minISR:
					underMinISR++
				case isr == minISR:
					atMinISR++
				}
			}
			labels := []string{t.Name, strconv.Itoa(int(p.Index))}
			ch <- prometheus.MustNewConstMetric(c.logSize, prometheus.GaugeValue, float64(p.Log.Size()), labels...)
			ch <- prometheus.MustNewConstMetric(c.logEndOffset, prometheus.GaugeValue, float64(p.Log.EndOffset()), labels...)
			ch <- prometheus.MustNewConstMetric(c.logStartOffset, prometheus.GaugeValue, float64(p.Log.StartOffset()), labels...)
		}
	}
	gauge := func(d *prometheus.Desc, v int) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v))
	}
	offline, active := 0, activeControllers // a single node is alive while it answers scrapes
	if c.topology != nil {
		offline, active = c.topology.OfflinePartitions(), 0
		if c.topology.ActiveController() {
			active = 1
		}
	}
	gauge(c.partitionCount, partitions)
	gauge(c.leaderCount, leaders)
	gauge(c.underReplicated, underReplicated)
	gauge(c.underMinISR, underMinISR)
	gauge(c.atMinISR, atMinISR)
	gauge(c.offline, offline)
	gauge(c.activeController, active)
}
