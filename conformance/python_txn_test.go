package conformance

// Stock-client conformance for transactions, Python side: python/
// kafka_python_txn_check.py and confluent_kafka_txn_check.py run the same
// steps as java/TxnCheck.java with kafka-python's transactional
// KafkaProducer (kafka-python >= 2.1; Debian's python3-kafka 2.0.2 has none)
// and confluent-kafka's (librdkafka). deps.sh installs both, pinned, from
// PyPI into a venv under the cache directory.

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

// pyTxnInterpreter returns a python that imports module (kafka or
// confluent_kafka) with a transactional producer: HIGHWATER_PYTHON_TXN if
// set, else the venv deps.sh makes, ${HIGHWATER_CACHE:-~/.cache/highwater}/
// py-kafka-python-<v>-confluent-kafka-<v>, with the versions read from
// deps.sh.
func pyTxnInterpreter(t *testing.T, module string) string {
	t.Helper()
	py := os.Getenv("HIGHWATER_PYTHON_TXN")
	if py == "" {
		deps, err := os.ReadFile("deps.sh")
		if err != nil {
			t.Fatal(err)
		}
		version := func(name string) string {
			m := regexp.MustCompile(`(?m)^` + name + `=(\S+)$`).FindSubmatch(deps)
			if m == nil {
				t.Fatalf("deps.sh has no %s= line", name)
			}
			return string(m[1])
		}
		cache := os.Getenv("HIGHWATER_CACHE")
		if cache == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				t.Fatal(err)
			}
			cache = filepath.Join(home, ".cache", "highwater")
		}
		venv := "py-kafka-python-" + version("kafka_python_version") +
			"-confluent-kafka-" + version("confluent_kafka_version")
		py = filepath.Join(cache, venv, "bin", "python")
	}
	probe := map[string]string{
		"kafka":           "import kafka; kafka.KafkaProducer.init_transactions",
		"confluent_kafka": "import confluent_kafka; confluent_kafka.Producer.init_transactions",
	}[module]
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, py, "-c", probe).CombinedOutput()
	if err != nil {
		stockMissing(t, "%s cannot import a %s with transactions: %v\n%s", py, module, err, stockTail(out, 5))
	}
	return py
}

// pyTxnResult mirrors the JSON both transaction scripts print.
type pyTxnResult struct {
	KafkaPython     string   `json:"kafka_python"`
	ConfluentKafka  string   `json:"confluent_kafka"`
	Librdkafka      string   `json:"librdkafka"`
	Python          string   `json:"python"`
	Error           string   `json:"error"`
	Traceback       string   `json:"traceback"`
	Fence           txnFence `json:"fence"`
	ReadCommitted   txnRead  `json:"read_committed"`
	ReadUncommitted txnRead  `json:"read_uncommitted"`
}

// pyTxnRun runs a transaction script against a fresh 3-partition topic on
// the target and returns its parsed result.
func pyTxnRun(t *testing.T, py, scriptName string, extra ...string) (pyTxnResult, []byte) {
	t.Helper()
	return pyTxnRunOn(t, nil, py, scriptName, extra...)
}

// pyTxnRunOn is pyTxnRun on a target started with props.
func pyTxnRunOn(t *testing.T, props map[string]string, py, scriptName string, extra ...string) (pyTxnResult, []byte) {
	t.Helper()
	script, err := filepath.Abs(filepath.Join("python", scriptName))
	if err != nil {
		t.Fatal(err)
	}
	tgt := newTarget(t, props)
	topic := stockTopic(t, "py-txn")
	stockCreateTopics(t, tgt.Bootstrap, txnPartitions, topic)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args := append([]string{script, "--bootstrap", tgt.Bootstrap, "--topic", topic,
		"--txn-id", stockTopic(t, "py-txn-id")}, extra...)
	out, stderr, err := stockRun(ctx, t, nil, py, args...)
	if err != nil {
		t.Fatalf("%s: %v\nstdout:\n%s\nstderr:\n%s", scriptName, err, stockTail(out, 10), stockTail(stderr, 40))
	}
	var res pyTxnResult
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("script output is not JSON: %v\n%s\nstderr:\n%s", err, out, stockTail(stderr, 40))
	}
	if res.Error != "" {
		t.Fatalf("%s\n%s\nstderr:\n%s", res.Error, res.Traceback, stockTail(stderr, 40))
	}
	return res, stderr
}

// pyTxnCheck checks the fence and both readers, the same expectations as
// the Java test.
func pyTxnCheck(t *testing.T, res pyTxnResult, stderr []byte) {
	t.Helper()
	t.Logf("fenced producer: step %q, %s", res.Fence.Step, res.Fence.Exception)
	if !res.Fence.Fenced {
		t.Errorf("a second producer with the same transactional id did not fence the first: step %q, %s", res.Fence.Step, res.Fence.Exception)
	}
	txnCheckRead(t, "read_committed", res.ReadCommitted, txnExpect("c1", "c3", "b5"))
	res.ReadUncommitted.Records = txnWithoutFenced(t, res.ReadUncommitted.Records)
	txnCheckRead(t, "read_uncommitted", res.ReadUncommitted, txnExpect("c1", "a2", "c3", "b5"))
	if t.Failed() {
		t.Logf("stderr of the script:\n%s", stockTail(stderr, 40))
	}
}

// kafka-python sends the pre-KIP-588 AddPartitionsToTxn v1, which both
// Apache Kafka and the reference broker answer with INVALID_PRODUCER_EPOCH
// (47) rather than PRODUCER_FENCED (90); the script counts that as the fence
// when the producer then cannot even abort.
func TestKafkaPythonTxnProducerReadCommitted(t *testing.T) {
	py := pyTxnInterpreter(t, "kafka")
	var extra []string
	if l := os.Getenv("HIGHWATER_PY_LOG"); l != "" { // e.g. DEBUG: kafka-python's protocol log
		extra = append(extra, "--log-level", l)
	}
	res, stderr := pyTxnRun(t, py, "kafka_python_txn_check.py", extra...)
	t.Logf("kafka-python %s on python %s", res.KafkaPython, res.Python)
	pyTxnCheck(t, res, stderr)
}

// librdkafka reports a fence as its fatal _FENCED error, whichever of
// PRODUCER_FENCED and INVALID_PRODUCER_EPOCH the broker answered.
func TestConfluentKafkaTxnProducerReadCommitted(t *testing.T) {
	py := pyTxnInterpreter(t, "confluent_kafka")
	var extra []string
	if d := os.Getenv("HIGHWATER_KCAT_DEBUG"); d != "" { // librdkafka debug contexts, e.g. eos,protocol
		extra = append(extra, "--debug", d)
	}
	res, stderr := pyTxnRun(t, py, "confluent_kafka_txn_check.py", extra...)
	t.Logf("confluent-kafka %s (librdkafka %s) on python %s", res.ConfluentKafka, res.Librdkafka, res.Python)
	pyTxnCheck(t, res, stderr)
}

// The older-protocol clients (kafka-python, librdkafka: AddPartitionsToTxn,
// EndTxn up to v4 or below, Produce up to v11 or below) keep working with
// the broker finalizing transaction.version 2, as they do against Apache
// Kafka 4.1.1: each transaction runs the protocol its client speaks.
func TestKafkaPythonTxnProducerReadCommittedTV2(t *testing.T) {
	py := pyTxnInterpreter(t, "kafka")
	res, stderr := pyTxnRunOn(t, txnV2Props(), py, "kafka_python_txn_check.py")
	pyTxnCheck(t, res, stderr)
}

func TestConfluentKafkaTxnProducerReadCommittedTV2(t *testing.T) {
	py := pyTxnInterpreter(t, "confluent_kafka")
	res, stderr := pyTxnRunOn(t, txnV2Props(), py, "confluent_kafka_txn_check.py")
	pyTxnCheck(t, res, stderr)
}
