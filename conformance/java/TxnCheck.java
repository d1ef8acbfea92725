// TxnCheck drives Apache Kafka's own transactional producer and
// read_committed / read_uncommitted consumers against a cluster, and prints
// one JSON object with what each step saw; java_txn_test.go checks it.
//
// Run in source-file mode (no build step):
//
//   java -cp "$(conformance/java/fetch.sh)/*" conformance/java/TxnCheck.java BOOTSTRAP TOPIC TXN_ID
//
// TOPIC must exist with 3 partitions. The steps, on producer A (TXN_ID):
//   txn 1: "c1-<p>-<i>" to every partition, committed
//   txn 2: "a2-<p>-<i>" to every partition, flushed, then aborted
//   txn 3: "c3-<p>-<i>" to every partition, committed
// then producer B initialises the same TXN_ID, which must fence A: A's next
// transaction ("f4-<p>-<i>") has to fail with ProducerFencedException on some
// call (send, commit, or the abort after an abortable error). B then commits
// "b5-<p>-<i>". Finally a read_committed and a read_uncommitted consumer
// (assigned, no group) read every partition from the beginning up to its end
// offset (the last stable offset for read_committed).

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ExecutionException;

import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.ProducerFencedException;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

public class TxnCheck {
    static final int PARTITIONS = 3;
    static final int PER_PARTITION = 2;
    // A bound on every blocking client call, well under the Go test's own.
    static final int BLOCK_MS = 20000;

    public static void main(String[] args) throws Exception {
        if (args.length != 3) {
            System.err.println("usage: TxnCheck BOOTSTRAP TOPIC TXN_ID");
            System.exit(2);
        }
        String bootstrap = args[0], topic = args[1], txnId = args[2];
        StringBuilder out = new StringBuilder("{");

        KafkaProducer<String, String> a = producer(bootstrap, txnId);
        a.initTransactions();
        sendAll(a, topic, "c1", true);
        sendAll(a, topic, "a2", false);
        sendAll(a, topic, "c3", true);

        KafkaProducer<String, String> b = producer(bootstrap, txnId);
        b.initTransactions();
        out.append("\"fence\":").append(fence(a, topic)).append(',');
        a.close(Duration.ofSeconds(5));
        sendAll(b, topic, "b5", true);
        b.close(Duration.ofSeconds(5));

        out.append("\"read_committed\":").append(readAll(bootstrap, topic, "read_committed")).append(',');
        out.append("\"read_uncommitted\":").append(readAll(bootstrap, topic, "read_uncommitted"));
        System.out.println(out.append('}'));
    }

    static KafkaProducer<String, String> producer(String bootstrap, String txnId) {
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        p.put("transactional.id", txnId);
        p.put("client.id", txnId);
        p.put("max.block.ms", String.valueOf(BLOCK_MS));
        p.put("delivery.timeout.ms", String.valueOf(BLOCK_MS));
        p.put("request.timeout.ms", "10000");
        p.put("linger.ms", "0");
        return new KafkaProducer<>(p, new StringSerializer(), new StringSerializer());
    }

    // sendAll runs one transaction writing PER_PARTITION records named
    // tag-<p>-<i> to every partition, waiting for every ack, then commits or
    // aborts it.
    static void sendAll(KafkaProducer<String, String> pr, String topic, String tag, boolean commit)
            throws InterruptedException, ExecutionException {
        pr.beginTransaction();
        List<java.util.concurrent.Future<?>> acks = new ArrayList<>();
        for (int p = 0; p < PARTITIONS; p++) {
            for (int i = 0; i < PER_PARTITION; i++) {
                String v = tag + "-" + p + "-" + i;
                acks.add(pr.send(new ProducerRecord<>(topic, p, v, v)));
            }
        }
        for (java.util.concurrent.Future<?> f : acks) {
            f.get();
        }
        if (commit) {
            pr.commitTransaction();
        } else {
            pr.abortTransaction();
        }
    }

    // fence tries one more transaction on the fenced producer and returns a
    // JSON object naming the step that failed and the exception it saw.
    static String fence(KafkaProducer<String, String> a, String topic) {
        String step = "begin";
        try {
            a.beginTransaction();
            step = "send";
            List<java.util.concurrent.Future<?>> acks = new ArrayList<>();
            for (int p = 0; p < PARTITIONS; p++) {
                String v = "f4-" + p + "-0";
                acks.add(a.send(new ProducerRecord<>(topic, p, v, v)));
            }
            for (java.util.concurrent.Future<?> f : acks) {
                f.get();
            }
            step = "commit";
            a.commitTransaction();
            return "{\"fenced\":false,\"step\":\"none\",\"exception\":\"\"}";
        } catch (Exception e) {
            Throwable fenced = findFenced(e);
            if (fenced == null && !step.equals("begin")) {
                // An abortable error (e.g. InvalidProducerEpochException on
                // the produce): the abort must then meet the fence.
                String first = chain(e);
                try {
                    a.abortTransaction();
                } catch (Exception e2) {
                    fenced = findFenced(e2);
                    if (fenced != null) {
                        return fenceJSON(step + "+abort (after " + first + ")", fenced);
                    }
                    return fenceJSON(step + "+abort (after " + first + ")", e2);
                }
            }
            return fenceJSON(step, fenced != null ? fenced : e);
        }
    }

    static Throwable findFenced(Throwable e) {
        for (Throwable c = e; c != null; c = c.getCause()) {
            if (c instanceof ProducerFencedException) {
                return c;
            }
        }
        return null;
    }

    // chain names an exception and its causes, outermost first.
    static String chain(Throwable e) {
        StringBuilder b = new StringBuilder();
        for (Throwable c = e; c != null; c = c.getCause()) {
            b.append(b.length() > 0 ? " <- " : "").append(c.getClass().getName());
            if (c.getCause() == null && c.getMessage() != null) {
                b.append(": ").append(c.getMessage());
            }
        }
        return b.toString();
    }

    static String fenceJSON(String step, Throwable e) {
        return "{\"fenced\":" + (e instanceof ProducerFencedException) + ",\"step\":" + q(step)
                + ",\"exception\":" + q(e.getClass().getName() + ": " + e.getMessage()) + "}";
    }

    // readAll reads every partition from the beginning to its end offset
    // under the given isolation level and returns [[partition, offset,
    // value], ...] in partition then offset order.
    static String readAll(String bootstrap, String topic, String isolation) {
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        p.put("isolation.level", isolation);
        p.put("enable.auto.commit", "false");
        p.put("auto.offset.reset", "earliest");
        p.put("default.api.timeout.ms", String.valueOf(BLOCK_MS));
        List<TopicPartition> tps = new ArrayList<>();
        for (int i = 0; i < PARTITIONS; i++) {
            tps.add(new TopicPartition(topic, i));
        }
        Map<Integer, List<String>> got = new HashMap<>();
        try (KafkaConsumer<String, String> c = new KafkaConsumer<>(p, new StringDeserializer(), new StringDeserializer())) {
            c.assign(tps);
            c.seekToBeginning(tps);
            Map<TopicPartition, Long> end = c.endOffsets(tps);
            long deadline = System.currentTimeMillis() + BLOCK_MS;
            while (System.currentTimeMillis() < deadline) {
                boolean done = true;
                for (TopicPartition tp : tps) {
                    if (c.position(tp) < end.get(tp)) {
                        done = false;
                    }
                }
                if (done) {
                    break;
                }
                for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(200))) {
                    got.computeIfAbsent(r.partition(), k -> new ArrayList<>())
                            .add("[" + r.partition() + "," + r.offset() + "," + q(r.value()) + "]");
                }
            }
            StringBuilder s = new StringBuilder("{\"end_offsets\":[");
            for (int i = 0; i < PARTITIONS; i++) {
                s.append(i > 0 ? "," : "").append(end.get(tps.get(i)));
            }
            s.append("],\"positions\":[");
            for (int i = 0; i < PARTITIONS; i++) {
                s.append(i > 0 ? "," : "").append(c.position(tps.get(i)));
            }
            s.append("],\"records\":[");
            boolean first = true;
            for (int i = 0; i < PARTITIONS; i++) {
                for (String r : got.getOrDefault(i, List.of())) {
                    s.append(first ? "" : ",").append(r);
                    first = false;
                }
            }
            return s.append("]}").toString();
        } catch (KafkaException e) {
            return "{\"error\":" + q(e.getClass().getName() + ": " + e.getMessage()) + "}";
        }
    }

    static String q(String s) {
        if (s == null) {
            return "null";
        }
        StringBuilder b = new StringBuilder("\"");
        for (char ch : s.toCharArray()) {
            if (ch == '"' || ch == '\\') {
                b.append('\\').append(ch);
            } else if (ch < 0x20) {
                b.append(String.format("\\u%04x", (int) ch));
            } else {
                b.append(ch);
            }
        }
        return b.append('"').toString();
    }
}
