// Package conformance holds wire-level tests that drive a broker through
// stock Kafka clients (franz-go here; kcat, kafka-python and the Java client
// in their own files) and assert Apache Kafka's behaviour, not highwater's:
// every test here must also pass against a real Kafka cluster.
//
// By default each test starts its own highwater broker (built once per
// package run) on 127.0.0.1 with a fresh data dir. Environment:
//
//	HIGHWATER_TARGET=kafka          the Kafka pass (make test-kafka): the same
//	                                tests against Apache Kafka 4.x nodes
//	                                started through java/kafka-single.sh.
//	                                Tests without broker properties share
//	                                one node; tests that configure, kill or
//	                                restart their broker get their own.
//	                                "reference" (the default) is highwater.
//	HIGHWATER_BOOTSTRAP=host:port   run against that cluster instead; tests
//	                                that need to kill, restart or configure
//	                                the broker skip themselves.
//	HIGHWATER_BROKER_BINARY=path    use this binary instead of building
//	                                ./cmd/highwater (for instance the kfake
//	                                stand-in internal/brokerproc/kfakebroker).
//	HIGHWATER_EXTERNAL_PROPS="k=v ..." the external cluster's settings: tests
//	                                asking only for these run instead of
//	                                skipping.
//	HIGHWATER_BROKER_LOG=1          stream broker output to stderr.
//
// The package has no non-test code.
package conformance
