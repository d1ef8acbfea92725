#!/usr/bin/env bash
# podman-setup.sh: make a Docker-API container engine (podman) answer on this
# host so `highwater bench --target container` and the bench container tests
# can run. Idempotent: each step is skipped when already done. Needs root.
#
# Prints the environment to export on its last lines.
set -euo pipefail

SOCK_PATH=${PODMAN_SOCK:-/run/podman/podman.sock}
CONF=/etc/containers/containers.conf

log() { echo "podman-setup: $*" >&2; }

if [ "$(id -u)" -ne 0 ]; then
	log "must run as root (installs packages, writes $CONF, serves $SOCK_PATH)"
	exit 1
fi

# 1. Packages: podman serves the Docker API; runc is the OCI runtime that
# works here (crun is podman's default); iptables sets up the bridge NAT.
missing=()
for bin in podman runc iptables; do
	command -v "$bin" >/dev/null 2>&1 || missing+=("$bin")
done
if [ "${#missing[@]}" -gt 0 ]; then
	log "installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq podman runc iptables >/dev/null
else
	log "podman, runc, iptables already installed"
fi

# 2. Engine config: container default ulimits cannot be raised inside this
# kind of sandbox, and runc is the runtime known to work.
if [ ! -f "$CONF" ]; then
	log "writing $CONF"
	mkdir -p "$(dirname "$CONF")"
	cat >"$CONF" <<'CONF'
[containers]
default_ulimits = []

[engine]
runtime = "runc"
CONF
else
	log "$CONF exists, leaving it alone"
fi

# 3. API service: start it only when the socket does not answer /_ping.
ping() { curl -fsS --max-time 2 --unix-socket "$SOCK_PATH" http://d/_ping >/dev/null 2>&1; }
if ! command -v curl >/dev/null 2>&1; then
	apt-get install -y -qq curl >/dev/null
fi
if ping; then
	log "API already answers on $SOCK_PATH"
else
	log "starting podman system service on $SOCK_PATH"
	mkdir -p "$(dirname "$SOCK_PATH")"
	rm -f "$SOCK_PATH"
	nohup podman system service --time=0 "unix://$SOCK_PATH" \
		>/var/log/podman-service.log 2>&1 </dev/null &
	for _ in $(seq 1 50); do
		ping && break
		sleep 0.2
	done
	if ! ping; then
		log "API did not answer on $SOCK_PATH within 10s; see /var/log/podman-service.log"
		exit 1
	fi
	log "API answers on $SOCK_PATH"
fi

echo "export DOCKER_HOST=unix://$SOCK_PATH TESTCONTAINERS_RYUK_DISABLED=true TESTCONTAINERS_HOST_OVERRIDE=127.0.0.1"
