#!/usr/bin/env python3
"""kafka-python conformance probe, driven by conformance/python_test.go.

For each codec it produces COUNT keyed records with acks=all to
<prefix>-<codec>, consumes them back as a member of a fresh group, commits,
checks the committed offset, then produces one more record and checks that a
new member of the same group resumes from the commit and sees only that one.

It prints one JSON object on stdout; the Go test decides pass/fail. Errors
are reported per codec in the JSON rather than raised, so one broken codec
does not hide the others. Logging goes to stderr.

api_version is left to kafka-python's own detection (ApiVersions); pass
--api-version 2.5.0 to pin it instead.
"""

import argparse
import json
import logging
import sys
import time
import traceback

import kafka
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka import codec as kcodec

# kafka-python's own name for each codec, and whether its library is importable.
CODECS = {
    "gzip": kcodec.has_gzip,
    "snappy": kcodec.has_snappy,
    "lz4": kcodec.has_lz4,
    "zstd": kcodec.has_zstd,
}


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument("--bootstrap", required=True)
    p.add_argument("--prefix", required=True, help="topic <prefix>-<codec>, group <prefix>-<codec>-g")
    p.add_argument("--codecs", default=",".join(CODECS))
    p.add_argument("--count", type=int, default=200)
    p.add_argument("--timeout", type=float, default=30.0, help="seconds per phase")
    p.add_argument("--api-version", default="", help="e.g. 2.5.0; empty = auto-detect")
    p.add_argument("--log-level", default="WARNING", help="kafka-python logging to stderr")
    return p.parse_args()


def client_opts(args):
    opts = {"bootstrap_servers": args.bootstrap, "request_timeout_ms": int(args.timeout * 1000) + 1000}
    if args.api_version:
        opts["api_version"] = tuple(int(x) for x in args.api_version.split("."))
    return opts


def produce(args, topic, codec, first, count):
    """Sends count records and returns their offsets in send order."""
    p = KafkaProducer(compression_type=codec, acks="all", retries=5, **client_opts(args))
    try:
        futs = [
            p.send(topic, key=b"k%04d" % i, value=(b"%s-v%04d" % (codec.encode(), i)) * 4)
            for i in range(first, first + count)
        ]
        p.flush(timeout=args.timeout)
        return [f.get(timeout=args.timeout).offset for f in futs], p.config["api_version"]
    finally:
        p.close(timeout=5)


def consume(args, topic, group, want):
    """Reads up to want records as a group member, commits, returns records
    [key, value, offset], the committed offset and the consumer's api_version."""
    c = KafkaConsumer(
        topic,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        **client_opts(args),
    )
    try:
        got = []
        deadline = time.monotonic() + args.timeout
        while len(got) < want and time.monotonic() < deadline:
            for _tp, msgs in c.poll(timeout_ms=500).items():
                for m in msgs:
                    got.append([m.key.decode(), m.value.decode(), m.offset])
        c.commit()
        committed = c.committed(TopicPartition(topic, 0))
        return got, committed, c.config["api_version"]
    finally:
        c.close(autocommit=False)


def check_codec(args, codec):
    topic = "%s-%s" % (args.prefix, codec)
    group = topic + "-g"
    r = {"topic": topic, "group": group}
    try:
        offsets, r["producer_api_version"] = produce(args, topic, codec, 0, args.count)
        r["produced_offsets"] = offsets
        got, r["committed"], r["consumer_api_version"] = consume(args, topic, group, args.count)
        r["consumed"] = got
        # A new member of the group starts at the commit: only the new record.
        more, _ = produce(args, topic, codec, args.count, 1)
        r["produced_offsets"] += more
        got, r["committed_after_resume"], _ = consume(args, topic, group, 1)
        r["resumed"] = got
    except Exception as e:  # reported, not raised: the Go test judges
        r["error"] = "%s: %s" % (type(e).__name__, e)
        r["traceback"] = traceback.format_exc()
    return r


def main():
    args = parse_args()
    logging.basicConfig(stream=sys.stderr, level=getattr(logging, args.log_level.upper()))
    out = {
        "kafka_python": kafka.__version__,
        "python": sys.version.split()[0],
        "available": {name: bool(has()) for name, has in CODECS.items()},
        "codecs": {},
    }
    for codec in [c for c in args.codecs.split(",") if c]:
        if codec not in CODECS:
            out["codecs"][codec] = {"error": "unknown codec"}
        elif not CODECS[codec]():
            out["codecs"][codec] = {"error": "codec library not importable"}
        else:
            out["codecs"][codec] = check_codec(args, codec)
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
