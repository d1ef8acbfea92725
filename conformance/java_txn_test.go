package conformance

// Stock-client conformance for transactions, Java side: Apache Kafka's own
// transactional KafkaProducer and read_committed / read_uncommitted
// KafkaConsumers (java/TxnCheck.java, run in source-file mode with the
// fetched kafka-clients jar) against the target. The expected outcome is
// the same for the reference broker and Apache Kafka.

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// txnPartitions and txnPerPartition match TxnCheck.java and
// kafka_python_txn_check.py: each transaction writes txnPerPartition
// records to each of txnPartitions partitions.
const (
	txnPartitions   = 3
	txnPerPartition = 2
)

// txnFence is what the fenced producer saw on its next transaction.
type txnFence struct {
	Fenced    bool   `json:"fenced"`
	Step      string `json:"step"`
	Exception string `json:"exception"`
}

// txnRead is one consumer's view: end offsets (the last stable offset for
// read_committed), final positions and [partition, offset, value] records.
type txnRead struct {
	EndOffsets []int64 `json:"end_offsets"`
	Positions  []int64 `json:"positions"`
	Records    [][]any `json:"records"`
	Error      string  `json:"error"`
}

// txnExpect lists the values a reader must see, per partition in offset
// order, for the transaction tags given: tag-<p>-<i>.
func txnExpect(tags ...string) map[int][]string {
	want := map[int][]string{}
	for p := range txnPartitions {
		for _, tag := range tags {
			for i := range txnPerPartition {
				want[p] = append(want[p], fmt.Sprintf("%s-%d-%d", tag, p, i))
			}
		}
	}
	return want
}

// txnCheckRead compares a reader's records with want: exactly those values,
// per partition, in increasing offset order, and every partition read up to
// its end offset.
func txnCheckRead(t *testing.T, what string, r txnRead, want map[int][]string) {
	t.Helper()
	if r.Error != "" {
		t.Errorf("%s consumer failed: %s", what, r.Error)
		return
	}
	got := map[int][]string{}
	last := map[int]float64{}
	for _, rec := range r.Records {
		if len(rec) != 3 {
			t.Fatalf("%s: malformed record %v", what, rec)
		}
		p, _ := rec[0].(float64)
		off, _ := rec[1].(float64)
		v, _ := rec[2].(string)
		if prev, ok := last[int(p)]; ok && off <= prev {
			t.Errorf("%s: partition %d offset %v after %v: offsets must increase", what, int(p), off, prev)
		}
		last[int(p)] = off
		got[int(p)] = append(got[int(p)], v)
	}
	for p := range txnPartitions {
		if strings.Join(got[p], " ") != strings.Join(want[p], " ") {
			t.Errorf("%s partition %d read\n  %v\nwant\n  %v", what, p, got[p], want[p])
		}
	}
	for p := range len(r.EndOffsets) {
		if p < len(r.Positions) && r.Positions[p] < r.EndOffsets[p] {
			t.Errorf("%s partition %d stopped at position %d before its end offset %d", what, p, r.Positions[p], r.EndOffsets[p])
		}
	}
	t.Logf("%s: end offsets %v, positions %v, %d records", what, r.EndOffsets, r.Positions, len(r.Records))
}

func TestJavaTxnProducerReadCommitted(t *testing.T) {
	javaTxnCheck(t, nil)
}

// TestJavaTxnProducerReadCommittedTV2 is the same run with the reference
// broker finalizing transaction.version 2 (Apache Kafka 4.1.1 does by
// default): the Java client takes KIP-890 part 2 (Produce v12 without
// AddPartitionsToTxn, EndTxn v5), which shows in the producer epoch after
// the run: TxnCheck's producer a ends three transactions, b inits and ends
// one, so the epoch is 5 with one bump per EndTxn (1 without).
func TestJavaTxnProducerReadCommittedTV2(t *testing.T) {
	tgt, txnID := javaTxnCheck(t, txnV2Props())
	if epoch := txnEpoch(t, tgt, txnID); epoch < 5 {
		t.Errorf("producer epoch after the run is %d, want 5 (one bump per EndTxn v5): the client did not take the v2 path", epoch)
	}
}

// txnV2Props configures a reference broker for transaction version 2;
// nil for Apache Kafka, whose 4.1.1 default it already is.
func txnV2Props() map[string]string {
	if kafkaPass() {
		return nil
	}
	return map[string]string{"highwater.transaction.version": "2"}
}

// txnEpoch is the transactional id's producer epoch (DescribeTransactions).
func txnEpoch(t *testing.T, tgt *target, txnID string) int16 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(tgt.Bootstrap))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d, err := kadm.NewClient(cl).DescribeTransactions(ctx, txnID)
	if err == nil {
		err = d[txnID].Err
	}
	if err != nil {
		t.Fatalf("DescribeTransactions %s: %v", txnID, err)
	}
	t.Logf("%s: producer id %d, epoch %d, state %s", txnID, d[txnID].ProducerID, d[txnID].ProducerEpoch, d[txnID].State)
	return d[txnID].ProducerEpoch
}

// javaTxnCheck runs java/TxnCheck.java against a target started with
// props and checks the fence and both readers; it returns the target and
// the transactional id used.
func javaTxnCheck(t *testing.T, props map[string]string) (*target, string) {
	lib := javaLib(t)
	src, err := filepath.Abs(filepath.Join("java", "TxnCheck.java"))
	if err != nil {
		t.Fatal(err)
	}
	tgt := newTarget(t, props)
	topic := stockTopic(t, "java-txn")
	stockCreateTopics(t, tgt.Bootstrap, txnPartitions, topic)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	txnID := stockTopic(t, "java-txn-id")
	out, stderr, err := javaRun(ctx, t, lib, src, tgt.Bootstrap, topic, txnID)
	if err != nil {
		t.Fatalf("TxnCheck.java: %v\nstdout:\n%s\nstderr:\n%s", err, stockTail(out, 10), stockTail(stderr, 40))
	}
	var res struct {
		Fence           txnFence `json:"fence"`
		ReadCommitted   txnRead  `json:"read_committed"`
		ReadUncommitted txnRead  `json:"read_uncommitted"`
	}
	if err := json.Unmarshal([]byte(stockTail(out, 1)), &res); err != nil {
		t.Fatalf("TxnCheck.java output is not JSON: %v\n%s\nstderr:\n%s", err, stockTail(out, 10), stockTail(stderr, 40))
	}
	t.Logf("fenced producer: step %q, %s", res.Fence.Step, res.Fence.Exception)
	if !res.Fence.Fenced {
		t.Errorf("a second producer with the same transactional.id did not fence the first: step %q, %s", res.Fence.Step, res.Fence.Exception)
	}
	// The fenced producer's "f4" records are never committed: they either
	// never reached the log or were aborted when the second producer
	// initialised, so only read_uncommitted may show them.
	txnCheckRead(t, "read_committed", res.ReadCommitted, txnExpect("c1", "c3", "b5"))
	res.ReadUncommitted.Records = txnWithoutFenced(t, res.ReadUncommitted.Records)
	txnCheckRead(t, "read_uncommitted", res.ReadUncommitted, txnExpect("c1", "a2", "c3", "b5"))
	if t.Failed() {
		t.Logf("TxnCheck.java stderr:\n%s", stockTail(stderr, 40))
	}
	return tgt, txnID
}

// txnWithoutFenced drops the fenced producer's "f4" records, logging them:
// whether they reached the log (to be aborted) differs between transaction
// protocol versions, so read_uncommitted may or may not show them.
func txnWithoutFenced(t *testing.T, recs [][]any) [][]any {
	t.Helper()
	var out [][]any
	for _, rec := range recs {
		if len(rec) == 3 {
			if v, _ := rec[2].(string); strings.HasPrefix(v, "f4-") {
				t.Logf("read_uncommitted saw the fenced producer's %s", v)
				continue
			}
		}
		out = append(out, rec)
	}
	return out
}
