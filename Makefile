# highwater — common tasks. `make help` lists them.
#
# The test target is the one CI runs (.ci/run) and the README names: it
# installs what the stock-client conformance tests need, then runs every
# Go test.

GO        ?= go
BIN       ?= bin/highwater
FUZZTIME  ?= 10s
BENCH     ?= .
BENCHTIME ?= 1s
# Per-package bound; the conformance package starts real brokers (and a
# real Kafka for the Java client tests).
TESTTIMEOUT ?= 20m

.PHONY: help build test test-kafka unit deps broker cluster fuzz bench vet clean

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-8s %s\n", $$1, $$2}'

build: ## build bin/highwater
	$(GO) build -o $(BIN) ./cmd/highwater

# After deps, a missing stock client is a failure, not a skip.
# Packages run one at a time (-p 1): several start real clusters (three
# JVMs, three brokers), and on two cores running them side by side starves
# their failover timers into flaky bounds. The whole run still takes minutes.
# The container engine (podman serving the Docker API) is set up when it can
# be (root); .ci/run sets HIGHWATER_REQUIRE_CONTAINERS=1 so CI fails rather
# than skips when it cannot.
# The Kafka pass of the conformance suite (about 4 min on two cores) runs
# after: every expectation held against highwater must hold for Kafka too.
test: deps ## install test dependencies, then run every test (what CI runs)
	eval "$$(bash scripts/podman-setup.sh || true)"; \
	HIGHWATER_REQUIRE_CLIENTS=1 $(GO) test -p 1 -timeout $(TESTTIMEOUT) ./...
	HIGHWATER_REQUIRE_CLIENTS=1 HIGHWATER_TARGET=kafka $(GO) test -count=1 -timeout $(TESTTIMEOUT) ./conformance

# The conformance suite against single Apache Kafka nodes, and the cluster
# behaviour tests (harness/clustertest) against a 3-node Kafka cluster.
test-kafka: deps ## conformance + cluster tests against Apache Kafka (HIGHWATER_TARGET=kafka)
	HIGHWATER_REQUIRE_CLIENTS=1 HIGHWATER_TARGET=kafka $(GO) test -p 1 -count=1 -timeout $(TESTTIMEOUT) ./conformance ./harness/clustertest

unit: ## run every test without installing anything first
	$(GO) test -timeout $(TESTTIMEOUT) ./...

deps: ## install kcat, kafka-python (Debian packages) and Kafka's jars (Maven)
	@if [ -f conformance/deps.sh ]; then \
		bash conformance/deps.sh >/dev/null; \
	else \
		sudo=""; [ "$$(id -u)" -eq 0 ] || sudo=sudo; \
		DEBIAN_FRONTEND=noninteractive $$sudo apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends kcat python3-kafka >/dev/null; \
		if [ -f conformance/java/fetch.sh ]; then bash conformance/java/fetch.sh >/dev/null; fi; \
	fi

broker: ## run one broker with the embedded defaults (127.0.0.1:9092)
	$(GO) run ./cmd/highwater broker

cluster: ## the replicated reference cluster (3 nodes, racks az-a/b/c) until Ctrl-C
	$(GO) run ./cmd/highwater cluster

fuzz: ## run every fuzz target for FUZZTIME (default 10s) each
	@set -e; for pkg in $$($(GO) list -f '{{if or .TestGoFiles .XTestGoFiles}}{{.ImportPath}}{{end}}' ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
			echo "== $$pkg $$f"; \
			$(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg; \
		done; \
	done

bench: ## run the benchmarks (BENCH=regexp, BENCHTIME=1s)
	$(GO) test -run '^$$' -bench '$(BENCH)' -benchtime $(BENCHTIME) ./...

vet: ## gofmt and go vet
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...

clean: ## remove build output
	rm -rf bin
