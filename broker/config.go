package broker

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/highwater-io/highwater/broker/internal/config"
	"github.com/highwater-io/highwater/internal/vfs"
)

// Config is everything a broker needs. Properties use Apache Kafka's names
// (node.id, listeners, log.dirs, ...); the rest are seams for tests.
type Config struct {
	Properties map[string]string

	FS     vfs.FS                                              // nil: the OS filesystem
	Listen func(network, address string) (net.Listener, error) // nil: net.Listen
	Now    func() time.Time                                    // nil: time.Now
	Random io.Reader                                           // nil: crypto/rand
	Logger *slog.Logger                                        // nil: slog.Default()
}

// DefaultConfig is a single broker on 127.0.0.1:9092 with Kafka's defaults.
func DefaultConfig() Config {
	return Config{Properties: map[string]string{}}
}

// settings is a validated Config, resolved to what the broker uses.
type settings struct {
	props          *config.Broker
	warnings       []string
	nodeID         int32
	listenAddr     string
	advertisedHost string
	advertisedPort int32 // 0: the bound port
	dataDir        string
	cluster        *clusterSettings // nil: single-node mode
	faults         faultSettings    // fault seams and planted bugs (faults.go)
}

// Validate checks the configuration without touching disk or network.
// It returns the warnings (unknown keys) too.
func (c Config) Validate() ([]string, error) {
	s, err := c.resolve()
	if err != nil {
		return nil, err
	}
	return s.warnings, nil
}

func (c Config) resolve() (*settings, error) {
	props, warnings, err := config.NewBroker(c.Properties)
	if err != nil {
		return nil, fmt.Errorf("invalid configuration: %w", err)
	}
	s := &settings{props: props, warnings: warnings, nodeID: int32(props.Int64("node.id"))}
	if s.faults, err = resolveFaults(s); err != nil {
		return nil, err
	}
	if s.cluster, err = resolveCluster(c.Properties, s.nodeID); err != nil {
		return nil, err
	}
	var controllerNames map[string]bool
	if s.cluster != nil {
		controllerNames = s.cluster.listenerNames
		s.warnings = slices.DeleteFunc(s.warnings, func(w string) bool {
			for _, k := range clusterKeys {
				if strings.Contains(w, strconv.Quote(k)) {
					return true
				}
			}
			return false
		})
	}
	host, port, err := plaintextListener(props.String("listeners"), "listeners", controllerNames)
	if err != nil {
		return nil, err
	}
	if s.cluster != nil {
		s.cluster.bindAddr = controllerBindAddr(props.String("listeners"), controllerNames)
	}
	s.listenAddr = net.JoinHostPort(host, strconv.Itoa(port))
	if adv, ok := c.Properties["advertised.listeners"]; ok && strings.TrimSpace(adv) != "" {
		advHost, advPort, err := plaintextListener(adv, "advertised.listeners", controllerNames)
		if err != nil {
			return nil, err
		}
		s.advertisedHost, s.advertisedPort = advHost, int32(advPort)
	} else {
		s.advertisedHost, s.advertisedPort = host, int32(port)
		if host == "" || host == "0.0.0.0" || host == "::" {
			if s.advertisedHost, err = os.Hostname(); err != nil {
				return nil, fmt.Errorf("listeners binds every address and the hostname to advertise is unknown: %w", err)
			}
		}
	}
	dirs := strings.Split(props.String("log.dirs"), ",")
	s.dataDir = strings.TrimSpace(dirs[0])
	if s.dataDir == "" {
		return nil, fmt.Errorf("invalid configuration: log.dirs is empty")
	}
	if len(dirs) > 1 {
		s.warnings = append(s.warnings, fmt.Sprintf("log.dirs lists %d directories; only the first, %s, is used", len(dirs), s.dataDir))
	}
	return s, nil
}

// plaintextListener parses Kafka's listener list and returns the one
// PLAINTEXT listener's host and port. Other security protocols come with the
// security issue; naming one now is an error rather than a silent downgrade.
// Listeners named in skip (controller.listener.names, cluster mode) are
// left to the metadata service.
func plaintextListener(list, key string, skip map[string]bool) (string, int, error) {
	var host string
	port := -1
	for _, l := range strings.Split(list, ",") {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		u, err := url.Parse(l)
		if err != nil || u.Scheme == "" {
			return "", 0, fmt.Errorf("invalid configuration: %s: %q is not NAME://host:port", key, l)
		}
		if skip[strings.ToUpper(u.Scheme)] {
			continue
		}
		if !strings.EqualFold(u.Scheme, "PLAINTEXT") {
			return "", 0, fmt.Errorf("invalid configuration: %s: listener %q: only PLAINTEXT listeners are supported so far", key, l)
		}
		if port >= 0 {
			return "", 0, fmt.Errorf("invalid configuration: %s: more than one PLAINTEXT listener", key)
		}
		p, err := strconv.Atoi(u.Port())
		if err != nil || p < 0 || p > 65535 {
			return "", 0, fmt.Errorf("invalid configuration: %s: listener %q has no valid port", key, l)
		}
		host, port = u.Hostname(), p
	}
	if port < 0 {
		return "", 0, fmt.Errorf("invalid configuration: %s names no listener", key)
	}
	return host, port, nil
}

// ParseProperties reads a Java .properties file (server.properties).
func ParseProperties(r io.Reader) (map[string]string, error) { return config.ParseProperties(r) }
