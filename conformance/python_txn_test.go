package conformance

// Stock-client conformance for transactions, kafka-python side:
// python/kafka_python_txn_check.py runs the same steps as java/TxnCheck.java
// with kafka-python's transactional KafkaProducer (kafka-python >= 2.1;
// Debian's python3-kafka 2.0.2 has none, so deps.sh installs a pinned
// kafka-python from PyPI into a venv under the cache directory).

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

// pyTxnInterpreter returns a python that imports a kafka-python with the
// transactional producer: HIGHWATER_PYTHON_TXN if set, else the venv
// deps.sh makes, ${HIGHWATER_CACHE:-~/.cache/highwater}/py-kafka-python-
// <version>, with the version read from deps.sh.
func pyTxnInterpreter(t *testing.T) string {
	t.Helper()
	py := os.Getenv("HIGHWATER_PYTHON_TXN")
	if py == "" {
		deps, err := os.ReadFile("deps.sh")
		if err != nil {
			t.Fatal(err)
		}
		m := regexp.MustCompile(`(?m)^kafka_python_version=(\S+)$`).FindSubmatch(deps)
		if m == nil {
			t.Fatal("deps.sh has no kafka_python_version= line")
		}
		cache := os.Getenv("HIGHWATER_CACHE")
		if cache == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				t.Fatal(err)
			}
			cache = filepath.Join(home, ".cache", "highwater")
		}
		py = filepath.Join(cache, "py-kafka-python-"+string(m[1]), "bin", "python")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, py, "-c",
		"import kafka; kafka.KafkaProducer.init_transactions; print(kafka.__version__)").CombinedOutput()
	if err != nil {
		stockMissing(t, "%s cannot import a kafka-python with transactions: %v\n%s", py, err, stockTail(out, 5))
	}
	return py
}

func TestKafkaPythonTxnProducerReadCommitted(t *testing.T) {
	py := pyTxnInterpreter(t)
	script, err := filepath.Abs(filepath.Join("python", "kafka_python_txn_check.py"))
	if err != nil {
		t.Fatal(err)
	}
	tgt := newTarget(t, nil)
	topic := stockTopic(t, "kpy-txn")
	stockCreateTopics(t, tgt.Bootstrap, txnPartitions, topic)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args := []string{script, "--bootstrap", tgt.Bootstrap, "--topic", topic,
		"--txn-id", stockTopic(t, "kpy-txn-id")}
	if l := os.Getenv("HIGHWATER_PY_LOG"); l != "" { // e.g. DEBUG: kafka-python's protocol log
		args = append(args, "--log-level", l)
	}
	out, stderr, err := stockRun(ctx, t, nil, py, args...)
	if err != nil {
		t.Fatalf("kafka_python_txn_check.py: %v\nstdout:\n%s\nstderr:\n%s", err, stockTail(out, 10), stockTail(stderr, 40))
	}
	var res struct {
		KafkaPython     string   `json:"kafka_python"`
		Python          string   `json:"python"`
		Error           string   `json:"error"`
		Traceback       string   `json:"traceback"`
		Fence           txnFence `json:"fence"`
		ReadCommitted   txnRead  `json:"read_committed"`
		ReadUncommitted txnRead  `json:"read_uncommitted"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("script output is not JSON: %v\n%s\nstderr:\n%s", err, out, stockTail(stderr, 40))
	}
	t.Logf("kafka-python %s on python %s", res.KafkaPython, res.Python)
	if res.Error != "" {
		t.Fatalf("%s\n%s\nstderr:\n%s", res.Error, res.Traceback, stockTail(stderr, 40))
	}
	t.Logf("fenced producer: step %q, %s", res.Fence.Step, res.Fence.Exception)
	// kafka-python sends the pre-KIP-588 AddPartitionsToTxn v1, which both
	// Apache Kafka and the reference broker answer with
	// INVALID_PRODUCER_EPOCH (47) rather than PRODUCER_FENCED (90); the
	// script counts that as the fence when the producer then cannot even
	// abort.
	if !res.Fence.Fenced {
		t.Errorf("a second producer with the same transactional_id did not fence the first: step %q, %s", res.Fence.Step, res.Fence.Exception)
	}
	txnCheckRead(t, "read_committed", res.ReadCommitted, txnExpect("c1", "c3", "b5"))
	// The fenced producer's "f4" records may have reached the log (then
	// aborted); only read_uncommitted may show them.
	res.ReadUncommitted.Records = txnWithoutFenced(t, res.ReadUncommitted.Records)
	txnCheckRead(t, "read_uncommitted", res.ReadUncommitted, txnExpect("c1", "a2", "c3", "b5"))
	if t.Failed() {
		t.Logf("stderr of the script:\n%s", stockTail(stderr, 40))
	}
}
