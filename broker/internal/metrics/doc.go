// Package metrics is the broker's Prometheus registry, exporting the series
// real Kafka's JMX beans become under Strimzi's jmx_exporter rules
// (examples/metrics/kafka-metrics.yaml), so dashboards built for Kafka work
// unchanged.
//
// Contract. Each broker owns one *Metrics with its own registry (never the
// process-wide default registry): several brokers may share a process.
// Counters and the request-latency summary are fed by the request handlers
// (Produced, Fetched, Request); every partition gauge is computed at scrape
// time from the topic catalogue by a Collector, so nothing is kept in sync
// by hand. All methods are safe on a nil *Metrics (they do nothing), so
// handler tests need no registry.
//
// Name mapping (JMX bean → series):
//
//	kafka.server:type=ReplicaManager,name=UnderReplicatedPartitions → kafka_server_replicamanager_underreplicatedpartitions
//	kafka.server:type=ReplicaManager,name=UnderMinIsrPartitionCount → kafka_server_replicamanager_underminisrpartitioncount
//	kafka.server:type=ReplicaManager,name=AtMinIsrPartitionCount    → kafka_server_replicamanager_atminisrpartitioncount
//	kafka.server:type=ReplicaManager,name=LeaderCount               → kafka_server_replicamanager_leadercount
//	kafka.server:type=ReplicaManager,name=PartitionCount            → kafka_server_replicamanager_partitioncount
//	kafka.server:type=ReplicaManager,name=IsrShrinksPerSec (Count)  → kafka_server_replicamanager_isrshrinks_total
//	kafka.server:type=ReplicaManager,name=IsrExpandsPerSec (Count)  → kafka_server_replicamanager_isrexpands_total
//	kafka.controller:type=KafkaController,name=OfflinePartitionsCount → kafka_controller_kafkacontroller_offlinepartitionscount
//	kafka.controller:type=KafkaController,name=ActiveControllerCount  → kafka_controller_kafkacontroller_activecontrollercount
//	kafka.server:type=BrokerTopicMetrics,name=BytesInPerSec[,topic=T]    → kafka_server_brokertopicmetrics_bytesin_total{topic}
//	kafka.server:type=BrokerTopicMetrics,name=BytesOutPerSec[,topic=T]   → kafka_server_brokertopicmetrics_bytesout_total{topic}
//	kafka.server:type=BrokerTopicMetrics,name=MessagesInPerSec[,topic=T] → kafka_server_brokertopicmetrics_messagesin_total{topic}
//	kafka.network:type=RequestMetrics,name=RequestsPerSec,request=R,version=V → kafka_network_requestmetrics_requests_total{request,version}
//	kafka.network:type=RequestMetrics,name=TotalTimeMs,request=R    → kafka_network_requestmetrics_totaltimems{request,quantile} (+ _count, _sum)
//	kafka.log:type=Log,name=Size,topic=T,partition=P                → kafka_log_log_size{topic,partition}
//	kafka.log:type=Log,name=LogEndOffset / LogStartOffset           → kafka_log_log_logendoffset / kafka_log_log_logstartoffset
//	kafka.server:type=KafkaServer,name=BrokerState                  → kafka_server_kafkaserver_brokerstate
//
// Differences from Kafka, and why:
//
//   - The all-topics BrokerTopicMetrics series carry topic="" rather than no
//     topic label: client_golang requires one label set per metric family,
//     and Prometheus treats an empty label as an absent one, so the stored
//     series are the same as Strimzi's.
//   - TotalTimeMs is a Prometheus summary in milliseconds with Kafka's
//     percentiles (0.5, 0.75, 0.95, 0.98, 0.99, 0.999) over a sliding
//     ten-minute window, where Kafka uses a decaying reservoir; its
//     quantile and _count series have Strimzi's names, and _sum (which
//     Strimzi lacks) is extra. It is measured from dispatch to the response
//     being ready, so socket queueing and send time are not included. As in
//     Kafka, a consumer Fetch is recorded under both "Fetch" and
//     "FetchConsumer" (a replica's under "FetchFollower").
//   - Single node: this broker leads every partition and ISR = replicas, so
//     under-replicated and offline partitions are 0, the active controller
//     count is 1, and ISR shrinks/expands stay 0 (present so queries work).
//     A partition counts as under min ISR when its topic's
//     min.insync.replicas exceeds the ISR of 1, exactly when acks=all
//     produce is refused with NOT_ENOUGH_REPLICAS.
//   - BytesIn/MessagesIn count batches appended by Produce (the batch as the
//     client sent it, and its record count); a retried idempotent duplicate
//     is not counted. Offsets the group coordinator writes are not counted.
//     BytesOut counts the record bytes of Fetch responses.
//
// Goroutines: none of its own. Serve runs an HTTP server on the caller's
// goroutine until its context ends.
package metrics
