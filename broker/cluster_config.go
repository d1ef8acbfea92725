package broker

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/highwater-io/highwater/broker/internal/metaserver"
)

// clusterKeys are the KRaft keys cluster mode reads straight from the
// properties (the static key table does not know them yet, so they are
// dropped from its "unknown key" warnings here).
var clusterKeys = []string{"process.roles", "controller.quorum.voters", "controller.listener.names",
	"cluster.id", "broker.session.timeout.ms", "broker.heartbeat.interval.ms",
	"replica.lag.time.max.ms", "auto.leader.rebalance.enable", "leader.imbalance.check.interval.seconds",
	"leader.imbalance.per.broker.percentage", "replica.selector.class"}

// clusterSettings is cluster mode's resolved configuration.
type clusterSettings struct {
	voters            []metaserver.Voter
	listenerNames     map[string]bool // controller.listener.names, upper case
	bindAddr          string          // the CONTROLLER listener in listeners; "": the voter address
	clusterID         string
	sessionTimeout    time.Duration
	heartbeatInterval time.Duration
	// replicaLagTimeMax is replica.lag.time.max.ms: a follower not caught
	// up for longer leaves the ISR.
	replicaLagTimeMax time.Duration
	// autoRebalance, imbalanceCheckInterval and imbalancePercentage are
	// auto.leader.rebalance.enable, leader.imbalance.check.interval.seconds
	// and leader.imbalance.per.broker.percentage.
	autoRebalance          bool
	imbalanceCheckInterval time.Duration
	imbalancePercentage    int
	// rackAwareSelector: replica.selector.class names Kafka's
	// RackAwareReplicaSelector, so consumers that set client.rack are sent
	// to a replica in their rack (KIP-392). Off by default, as in Kafka.
	rackAwareSelector bool
}

// rackAwareSelectorClass is the only replica.selector.class accepted
// besides Kafka's default LeaderSelector.
const (
	rackAwareSelectorClass = "org.apache.kafka.common.replica.RackAwareReplicaSelector"
	leaderSelectorClass    = "org.apache.kafka.common.replica.LeaderSelector"
)

// resolveCluster returns nil (single-node mode) unless process.roles is
// set. Only combined mode (broker,controller) is supported: every node is
// a voter of the metadata quorum, as in `kafka-server-start` with
// process.roles=broker,controller.
func resolveCluster(props map[string]string, nodeID int32) (*clusterSettings, error) {
	roles := strings.TrimSpace(props["process.roles"])
	voters := strings.TrimSpace(props["controller.quorum.voters"])
	if roles == "" {
		if voters != "" {
			return nil, fmt.Errorf("invalid configuration: controller.quorum.voters is set but process.roles is not")
		}
		return nil, nil
	}
	var rs []string
	for _, r := range strings.Split(roles, ",") {
		rs = append(rs, strings.ToLower(strings.TrimSpace(r)))
	}
	slices.Sort(rs)
	if !slices.Equal(rs, []string{"broker", "controller"}) {
		return nil, fmt.Errorf("invalid configuration: process.roles=%s: only combined mode (broker,controller) is supported so far", roles)
	}
	cs := &clusterSettings{listenerNames: map[string]bool{}}
	var err error
	if cs.voters, err = parseVoters(voters); err != nil {
		return nil, err
	}
	if !slices.ContainsFunc(cs.voters, func(v metaserver.Voter) bool { return v.ID == nodeID }) {
		return nil, fmt.Errorf("invalid configuration: node.id %d is not in controller.quorum.voters", nodeID)
	}
	names := strings.TrimSpace(props["controller.listener.names"])
	if names == "" {
		names = "CONTROLLER"
	}
	for _, n := range strings.Split(names, ",") {
		if n = strings.ToUpper(strings.TrimSpace(n)); n != "" {
			if n == "PLAINTEXT" {
				return nil, fmt.Errorf("invalid configuration: controller.listener.names must not name the client listener PLAINTEXT")
			}
			cs.listenerNames[n] = true
		}
	}
	cs.clusterID = strings.TrimSpace(props["cluster.id"])
	if cs.clusterID == "" {
		cs.clusterID = deriveClusterID(cs.voters)
	}
	if cs.sessionTimeout, err = msProp(props, "broker.session.timeout.ms", 9000); err != nil {
		return nil, err
	}
	if cs.heartbeatInterval, err = msProp(props, "broker.heartbeat.interval.ms", 2000); err != nil {
		return nil, err
	}
	if cs.replicaLagTimeMax, err = msProp(props, "replica.lag.time.max.ms", 30_000); err != nil {
		return nil, err
	}
	if err := resolveLeaderBalance(props, cs); err != nil {
		return nil, err
	}
	switch sel := strings.TrimSpace(props["replica.selector.class"]); sel {
	case "", leaderSelectorClass:
	case rackAwareSelectorClass:
		cs.rackAwareSelector = true
	default:
		return nil, fmt.Errorf("invalid configuration: replica.selector.class=%q: only %s and %s are supported", sel,
			leaderSelectorClass, rackAwareSelectorClass)
	}
	return cs, nil
}

// resolveLeaderBalance reads the automatic preferred-leader rebalance keys
// with Kafka's defaults (on, every 300 s, 10 %).
func resolveLeaderBalance(props map[string]string, cs *clusterSettings) error {
	cs.autoRebalance = true
	switch v := strings.TrimSpace(props["auto.leader.rebalance.enable"]); v {
	case "", "true":
	case "false":
		cs.autoRebalance = false
	default:
		return fmt.Errorf("invalid configuration: auto.leader.rebalance.enable=%q must be true or false", v)
	}
	secs, pct := int64(300), int64(10)
	if v := strings.TrimSpace(props["leader.imbalance.check.interval.seconds"]); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			return fmt.Errorf("invalid configuration: leader.imbalance.check.interval.seconds=%q must be a positive number of seconds", v)
		}
		secs = n
	}
	if v := strings.TrimSpace(props["leader.imbalance.per.broker.percentage"]); v != "" {
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil || n < 0 || n > 100 {
			return fmt.Errorf("invalid configuration: leader.imbalance.per.broker.percentage=%q must be 0 to 100", v)
		}
		pct = n
	}
	cs.imbalanceCheckInterval, cs.imbalancePercentage = time.Duration(secs)*time.Second, int(pct)
	return nil
}

// parseVoters parses Kafka's id@host:port,... list.
func parseVoters(list string) ([]metaserver.Voter, error) {
	if list == "" {
		return nil, fmt.Errorf("invalid configuration: process.roles is set but controller.quorum.voters is empty")
	}
	var out []metaserver.Voter
	for _, v := range strings.Split(list, ",") {
		id, addr, ok := strings.Cut(strings.TrimSpace(v), "@")
		n, err := strconv.ParseInt(id, 10, 32)
		if !ok || err != nil || n <= 0 {
			return nil, fmt.Errorf("invalid configuration: controller.quorum.voters: %q is not id@host:port", v)
		}
		if _, port, err := net.SplitHostPort(addr); err != nil || port == "0" || port == "" {
			return nil, fmt.Errorf("invalid configuration: controller.quorum.voters: %q needs host:port with a fixed port", v)
		}
		out = append(out, metaserver.Voter{ID: int32(n), Addr: addr})
	}
	return out, nil
}

// deriveClusterID is the cluster id when cluster.id is unset: every node
// of one cluster has the same voter list, so hashing it gives them all the
// same id without a formatting step (Kafka formats every node's storage
// with one id instead).
func deriveClusterID(voters []metaserver.Voter) string {
	vs := slices.Clone(voters)
	slices.SortFunc(vs, func(a, b metaserver.Voter) int { return int(a.ID) - int(b.ID) })
	h := sha256.New()
	for _, v := range vs {
		fmt.Fprintf(h, "%d@%s,", v.ID, v.Addr)
	}
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:16])
}

func msProp(props map[string]string, key string, def int64) (time.Duration, error) {
	v := strings.TrimSpace(props[key])
	if v == "" {
		return time.Duration(def) * time.Millisecond, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("invalid configuration: %s=%q must be a positive number of milliseconds", key, v)
	}
	return time.Duration(n) * time.Millisecond, nil
}

// controllerBindAddr is the host:port of the first listener named in
// controller.listener.names, or "" when listeners has none (the metadata
// service then binds its voter address).
func controllerBindAddr(list string, names map[string]bool) string {
	for _, l := range strings.Split(list, ",") {
		u, err := url.Parse(strings.TrimSpace(l))
		if err == nil && names[strings.ToUpper(u.Scheme)] {
			return u.Host
		}
	}
	return ""
}
