#!/usr/bin/env python3
"""kafka-python transactions probe, driven by conformance/python_txn_test.go.

Needs kafka-python >= 2.1 (transactional producer); conformance/deps.sh puts
a pinned one in a venv. The steps mirror conformance/java/TxnCheck.java, on
a topic with 3 partitions, each transaction writing 2 records named
<tag>-<partition>-<i> to every partition:

  producer A (TXN_ID): "c1" committed, "a2" flushed then aborted,
                       "c3" committed
  producer B (TXN_ID): init_transactions fences A; A's next transaction
                       ("f4") must fail with a fence error (see FENCE_ERRORS)
                       and leave A unable even to abort
  producer B:          "b5" committed
  consumers:           read_committed and read_uncommitted, assigned (no
                       group), read every partition from the beginning to its
                       end offset

It prints one JSON object on stdout (same shape as TxnCheck.java's); the Go
test decides pass/fail. Logging goes to stderr.
"""

import argparse
import json
import logging
import sys
import time
import traceback

import kafka
import kafka.errors as Errors
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

PARTITIONS = 3
PER_PARTITION = 2


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument("--bootstrap", required=True)
    p.add_argument("--topic", required=True, help="an existing topic with 3 partitions")
    p.add_argument("--txn-id", required=True)
    p.add_argument("--timeout", type=float, default=20.0, help="seconds bounding each blocking call")
    p.add_argument("--log-level", default="WARNING", help="kafka-python logging to stderr")
    return p.parse_args()


def producer(args):
    ms = int(args.timeout * 1000)
    return KafkaProducer(
        bootstrap_servers=args.bootstrap,
        transactional_id=args.txn_id,
        client_id=args.txn_id,
        max_block_ms=ms,
        request_timeout_ms=10000,
        linger_ms=0,
    )


def send_all(args, pr, tag, commit):
    """One transaction: PER_PARTITION records to every partition, every ack
    awaited, then committed or aborted."""
    pr.begin_transaction()
    futs = []
    for p in range(PARTITIONS):
        for i in range(PER_PARTITION):
            v = ("%s-%d-%d" % (tag, p, i)).encode()
            futs.append(pr.send(args.topic, value=v, key=v, partition=p))
    for f in futs:
        f.get(timeout=args.timeout)
    if commit:
        pr.commit_transaction()
    else:
        pr.abort_transaction()


def name(e):
    return "%s: %s" % (type(e).__name__, e)


# How kafka-python reports the fence: ProducerFencedError, or, for the
# pre-KIP-588 request versions it sends (AddPartitionsToTxn v1, EndTxn v1),
# InvalidProducerEpochError (47), which it treats as fatal. Apache Kafka
# answers those versions with 47 as well.
FENCE_ERRORS = (Errors.ProducerFencedError, Errors.InvalidProducerEpochError)


def fence(args, a):
    """Tries one more transaction on the fenced producer; returns which step
    failed and with what. fenced is true when the failure is a fence error
    and the producer is then unusable: an abort fails too."""
    step = "begin"
    try:
        a.begin_transaction()
        step = "send"
        futs = [a.send(args.topic, value=("f4-%d-0" % p).encode(), partition=p) for p in range(PARTITIONS)]
        for f in futs:
            f.get(timeout=args.timeout)
        step = "commit"
        a.commit_transaction()
        return {"fenced": False, "step": "none", "exception": ""}
    except Exception as e:  # the probe reports, the Go test judges
        if step == "begin":
            return {"fenced": isinstance(e, Errors.ProducerFencedError), "step": step, "exception": name(e)}
        try:
            a.abort_transaction()
        except Exception as e2:
            return {"fenced": isinstance(e, FENCE_ERRORS),
                    "step": "%s, then abort failed with %s" % (step, name(e2)), "exception": name(e)}
        return {"fenced": False, "step": step + ", then abort succeeded", "exception": name(e)}


def read_all(args, isolation):
    """Reads every partition from the beginning to its end offset under the
    isolation level; returns end offsets, positions and records."""
    tps = [TopicPartition(args.topic, p) for p in range(PARTITIONS)]
    c = KafkaConsumer(
        bootstrap_servers=args.bootstrap,
        isolation_level=isolation,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        request_timeout_ms=int(args.timeout * 1000),
    )
    try:
        c.assign(tps)
        c.seek_to_beginning(*tps)
        end = c.end_offsets(tps)
        got = {p: [] for p in range(PARTITIONS)}
        deadline = time.monotonic() + args.timeout
        while time.monotonic() < deadline:
            if all(c.position(tp) >= end[tp] for tp in tps):
                break
            for tp, recs in c.poll(timeout_ms=200).items():
                for r in recs:
                    got[tp.partition].append([tp.partition, r.offset, r.value.decode()])
        return {
            "end_offsets": [end[tp] for tp in tps],
            "positions": [c.position(tp) for tp in tps],
            "records": [r for p in range(PARTITIONS) for r in got[p]],
        }
    finally:
        c.close()


def main():
    args = parse_args()
    logging.basicConfig(stream=sys.stderr, level=getattr(logging, args.log_level.upper(), logging.WARNING))
    res = {"kafka_python": kafka.__version__, "python": sys.version.split()[0]}
    try:
        a = producer(args)
        a.init_transactions()
        send_all(args, a, "c1", True)
        send_all(args, a, "a2", False)
        send_all(args, a, "c3", True)

        b = producer(args)
        b.init_transactions()
        res["fence"] = fence(args, a)
        a.close(timeout=5)
        send_all(args, b, "b5", True)
        b.close(timeout=5)

        for iso in ("read_committed", "read_uncommitted"):
            try:
                res[iso] = read_all(args, iso)
            except Exception as e:
                res[iso] = {"error": name(e)}
    except Exception as e:
        res["error"] = name(e)
        res["traceback"] = traceback.format_exc()
    print(json.dumps(res))


if __name__ == "__main__":
    main()
