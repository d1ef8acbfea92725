#!/usr/bin/env python3
"""confluent-kafka (librdkafka) transactions probe, driven by
conformance/python_txn_test.go; conformance/deps.sh installs a pinned
confluent-kafka wheel (librdkafka bundled) in a venv.

The steps are those of conformance/java/TxnCheck.java and
kafka_python_txn_check.py, on a topic with 3 partitions, each transaction
writing 2 records named <tag>-<partition>-<i> to every partition:

  producer A (TXN_ID): "c1" committed, "a2" flushed then aborted,
                       "c3" committed
  producer B (TXN_ID): init_transactions fences A; A's next transaction
                       ("f4") must fail with a fatal fence error
  producer B:          "b5" committed
  consumers:           read_committed and read_uncommitted, assigned (no
                       subscription, no commits), read every partition from
                       the beginning up to its high watermark

It prints one JSON object on stdout (the shape of TxnCheck.java's); the Go
test decides pass/fail. librdkafka's debug log goes to stderr with --debug.
"""

import argparse
import json
import sys
import time
import traceback

import confluent_kafka
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

PARTITIONS = 3
PER_PARTITION = 2

# librdkafka's codes for a fenced transactional producer: its own _FENCED,
# and the broker's PRODUCER_FENCED (90) or, for older request versions,
# INVALID_PRODUCER_EPOCH (47).
FENCE_CODES = {KafkaError._FENCED, KafkaError.PRODUCER_FENCED, KafkaError.INVALID_PRODUCER_EPOCH}


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument("--bootstrap", required=True)
    p.add_argument("--topic", required=True, help="an existing topic with 3 partitions")
    p.add_argument("--txn-id", required=True)
    p.add_argument("--timeout", type=float, default=20.0, help="seconds bounding each blocking call")
    p.add_argument("--debug", default="", help="librdkafka debug contexts, e.g. eos,protocol")
    return p.parse_args()


def base_conf(args):
    conf = {"bootstrap.servers": args.bootstrap, "socket.timeout.ms": 10000}
    if args.debug:
        conf["debug"] = args.debug
    return conf


def producer(args):
    conf = base_conf(args)
    conf.update({
        "transactional.id": args.txn_id,
        "client.id": args.txn_id,
        "linger.ms": 0,
        "message.timeout.ms": int(args.timeout * 1000),
    })
    return Producer(conf)


class Acks:
    """Collects delivery reports."""

    def __init__(self):
        self.errors = []
        self.count = 0

    def __call__(self, err, msg):
        self.count += 1
        if err is not None:
            self.errors.append(err)


def send_all(args, pr, tag, commit):
    """One transaction: PER_PARTITION records to every partition, every ack
    awaited, then committed or aborted."""
    pr.begin_transaction()
    acks = Acks()
    for p in range(PARTITIONS):
        for i in range(PER_PARTITION):
            v = "%s-%d-%d" % (tag, p, i)
            pr.produce(args.topic, value=v, key=v, partition=p, on_delivery=acks)
    left = pr.flush(args.timeout)
    if left or acks.errors or acks.count != PARTITIONS * PER_PARTITION:
        raise RuntimeError("txn %s: %d undelivered, delivery errors %s" % (tag, left, acks.errors))
    if commit:
        pr.commit_transaction(args.timeout)
    else:
        pr.abort_transaction(args.timeout)


def describe(err):
    return "%s (code %d, fatal=%s, abortable=%s): %s" % (
        err.name(), err.code(), err.fatal(), err.txn_requires_abort(), err.str())


def fence(args, a):
    """Tries one more transaction on the fenced producer. fenced is true when
    a fatal fence error surfaces: from a delivery report, the commit, or the
    abort that an abortable error calls for."""
    seen = []
    step = "begin"
    try:
        a.begin_transaction()
        step = "send"
        acks = Acks()
        for p in range(PARTITIONS):
            a.produce(args.topic, value="f4-%d-0" % p, partition=p, on_delivery=acks)
        a.flush(args.timeout)
        seen += [("delivery", e) for e in acks.errors]
        step = "commit"
        a.commit_transaction(args.timeout)
    except KafkaException as e:
        err = e.args[0]
        seen.append((step, err))
        if err.txn_requires_abort():
            try:
                a.abort_transaction(args.timeout)
            except KafkaException as e2:
                seen.append(("abort", e2.args[0]))
    fenced = any(err.code() in FENCE_CODES and err.fatal() for _, err in seen)
    return {
        "fenced": fenced,
        "step": ", ".join(s for s, _ in seen) or "none",
        "exception": "; ".join("%s: %s" % (s, describe(err)) for s, err in seen),
    }


def read_all(args, isolation):
    """Reads every partition from the beginning to its high watermark under
    the isolation level; returns end offsets, positions and records."""
    conf = base_conf(args)
    conf.update({
        "group.id": args.txn_id + "-" + isolation,  # required by the client; no group is joined with assign()
        "isolation.level": isolation,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
    })
    c = Consumer(conf)
    try:
        tps = [TopicPartition(args.topic, p, confluent_kafka.OFFSET_BEGINNING) for p in range(PARTITIONS)]
        end = [c.get_watermark_offsets(TopicPartition(args.topic, p), timeout=args.timeout)[1] for p in range(PARTITIONS)]
        c.assign(tps)
        got = {p: [] for p in range(PARTITIONS)}
        last = {p: -1 for p in range(PARTITIONS)}
        deadline = time.monotonic() + args.timeout
        while time.monotonic() < deadline:
            # librdkafka's position is one past the last record handed to
            # the application, so it stops short of a trailing commit or
            # abort marker; done is every partition read to its last record
            # below the high watermark, confirmed by an idle poll.
            m = c.poll(0.2)
            if m is None:
                pos = c.position([TopicPartition(args.topic, p) for p in range(PARTITIONS)])
                if all(tp.offset >= 0 and tp.offset >= end[tp.partition] for tp in pos):
                    break
                continue
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    continue
                raise KafkaException(m.error())
            got[m.partition()].append([m.partition(), m.offset(), m.value().decode()])
            last[m.partition()] = m.offset()
        pos = c.position([TopicPartition(args.topic, p) for p in range(PARTITIONS)])
        return {
            "end_offsets": end,
            "positions": [tp.offset for tp in pos],
            "records": [r for p in range(PARTITIONS) for r in got[p]],
        }
    finally:
        c.close()


def main():
    args = parse_args()
    res = {"confluent_kafka": confluent_kafka.__version__, "librdkafka": confluent_kafka.libversion()[0],
           "python": sys.version.split()[0]}
    try:
        a = producer(args)
        a.init_transactions(args.timeout)
        send_all(args, a, "c1", True)
        send_all(args, a, "a2", False)
        send_all(args, a, "c3", True)

        b = producer(args)
        b.init_transactions(args.timeout)
        res["fence"] = fence(args, a)
        del a
        send_all(args, b, "b5", True)
        b.flush(5)
        del b

        for iso in ("read_committed", "read_uncommitted"):
            try:
                res[iso] = read_all(args, iso)
            except Exception as e:
                res[iso] = {"error": "%s: %s" % (type(e).__name__, e)}
    except Exception as e:
        res["error"] = "%s: %s" % (type(e).__name__, e)
        res["traceback"] = traceback.format_exc()
    print(json.dumps(res))


if __name__ == "__main__":
    main()
