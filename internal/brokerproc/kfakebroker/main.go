// Command kfakebroker is a stand-in for `highwater broker` built on
// franz-go's in-process kfake cluster. It accepts the same command line
// (`kfakebroker broker --config FILE [--override key=value ...]`) and the
// subset of Kafka properties kfake can honour, so brokerproc's own tests,
// and the conformance suite with HIGHWATER_BROKER_BINARY pointing here, can
// run without the real broker. kfake is not Kafka: use it for developing
// tests, never as the reference for what Kafka does.
//
// Honoured: listeners (port only; kfake always binds 127.0.0.1), log.dirs
// (first dir; kfake's persistence), auto.create.topics.enable,
// num.partitions, log.flush.interval.messages=1 (fsync every write), and the
// rest are passed through as kfake broker configs.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/twmb/franz-go/pkg/kfake"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "kfakebroker:", err)
		os.Exit(1)
	}
}

type overrides map[string]string

func (o overrides) String() string { return "" }

func (o overrides) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok {
		return fmt.Errorf("override %q: want key=value", s)
	}
	o[strings.TrimSpace(k)] = v
	return nil
}

func run(args []string) error {
	if len(args) == 0 || args[0] != "broker" {
		return errors.New("usage: kfakebroker broker [--config FILE] [--override key=value ...]")
	}
	fs := flag.NewFlagSet("broker", flag.ContinueOnError)
	config := fs.String("config", "", "server.properties file")
	ov := overrides{}
	fs.Var(ov, "override", "key=value (repeatable)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	props := map[string]string{}
	if *config != "" {
		var err error
		if props, err = readProperties(*config); err != nil {
			return err
		}
	}
	for k, v := range ov {
		props[k] = v
	}
	opts, err := kfakeOptions(props)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return err
	}
	log.Info("kfakebroker listening", "addrs", c.ListenAddrs())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, os.Interrupt)
	sig := <-sigs
	log.Info("shutting down", "signal", sig.String())
	c.Close()
	return nil
}

func kfakeOptions(props map[string]string) ([]kfake.Opt, error) {
	opts := []kfake.Opt{kfake.NumBrokers(1)}
	rest := map[string]string{}
	for k, v := range props {
		switch k {
		case "listeners":
			first, _, _ := strings.Cut(v, ",")
			u, err := url.Parse(first)
			if err != nil {
				return nil, fmt.Errorf("listeners %q: %w", v, err)
			}
			port, err := strconv.Atoi(u.Port())
			if err != nil {
				return nil, fmt.Errorf("listeners %q: port: %w", v, err)
			}
			opts = append(opts, kfake.Ports(port))
		case "log.dirs", "log.dir":
			first, _, _ := strings.Cut(v, ",")
			opts = append(opts, kfake.DataDir(first))
		case "auto.create.topics.enable":
			if v == "true" {
				opts = append(opts, kfake.AllowAutoTopicCreation())
			}
		case "num.partitions":
			n, err := strconv.Atoi(v)
			if err != nil {
				return nil, fmt.Errorf("num.partitions %q: %w", v, err)
			}
			opts = append(opts, kfake.DefaultNumPartitions(n))
		case "log.flush.interval.messages":
			if v == "1" {
				opts = append(opts, kfake.SyncWrites())
			}
		case "log.retention.check.interval.ms":
			// kfake runs retention on its cleaner tick.
			rest["log.cleaner.backoff.ms"] = v
		case "node.id", "advertised.listeners", "process.roles":
			// kfake numbers and advertises its brokers itself.
		default:
			rest[k] = v
		}
	}
	if len(rest) > 0 {
		opts = append(opts, kfake.BrokerConfigs(rest))
	}
	return opts, nil
}

// readProperties reads the simple key=value subset of java.util.Properties
// that brokerproc writes (plus '#'/'!' comments and ':' separators).
func readProperties(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	props := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == '!' {
			continue
		}
		i := strings.IndexAny(line, "=:")
		if i < 0 {
			props[line] = ""
			continue
		}
		props[strings.TrimSpace(line[:i])] = strings.TrimSpace(line[i+1:])
	}
	return props, sc.Err()
}
