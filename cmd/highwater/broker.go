package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/highwater-io/highwater/broker"
)

func brokerCommand() *cobra.Command {
	var (
		configFile string
		overrides  []string
		logLevel   string
		cpuProfile string
	)
	cmd := &cobra.Command{
		Use:   "broker",
		Short: "Run one broker node (Kafka's server.properties names)",
		Long: `Run one highwater broker node.

Configuration uses Apache Kafka's property names, from a server.properties
file (--config) and/or --override key=value (repeatable; overrides win).
Unknown keys are warned about; an invalid value stops the broker with a
message naming the key before it listens. Without any configuration the
broker listens on 127.0.0.1:9092 and keeps its data in /tmp/highwater-logs.`,
		Example: `  highwater broker --config server.properties
  highwater broker --override listeners=PLAINTEXT://127.0.0.1:9092 --override log.dirs=/var/lib/highwater`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			props := map[string]string{}
			if configFile != "" {
				f, err := os.Open(configFile)
				if err != nil {
					return err
				}
				props, err = broker.ParseProperties(f)
				f.Close()
				if err != nil {
					return fmt.Errorf("%s: %w", configFile, err)
				}
			}
			for _, o := range overrides {
				k, v, ok := strings.Cut(o, "=")
				if !ok || strings.TrimSpace(k) == "" {
					return fmt.Errorf("--override %q: want key=value", o)
				}
				props[strings.TrimSpace(k)] = v
			}
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return fmt.Errorf("--log-level: %w", err)
			}
			logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
			cfg := broker.DefaultConfig()
			cfg.Properties = props
			cfg.Logger = logger
			b, err := broker.New(cfg)
			if err != nil {
				return err
			}
			if cpuProfile != "" {
				stop, err := startCPUProfile(cpuProfile)
				if err != nil {
					b.Close()
					return err
				}
				defer stop()
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			runErr := b.Run(ctx)
			closeErr := b.Close()
			logger.Info("broker stopped")
			if runErr != nil {
				return runErr
			}
			return closeErr
		},
	}
	cmd.Flags().StringVarP(&configFile, "config", "c", "", "server.properties file")
	cmd.Flags().StringArrayVar(&overrides, "override", nil, "key=value property, repeatable; wins over --config")
	cmd.Flags().StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	cmd.Flags().StringVar(&cpuProfile, "cpuprofile", "", "write a Go CPU profile to this file until the broker stops")
	return cmd
}

// startCPUProfile profiles the whole broker run, for `go tool pprof`.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}
