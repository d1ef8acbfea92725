package main

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v4"

	"github.com/highwater-io/highwater/harness/run"
)

// errScenarioFile wraps every failure to read a --file scenario.
var errScenarioFile = errors.New("chaos: scenario file")

// scenarioFile is a `highwater chaos --file` scenario: its keys are the
// chaos flags' names. Pointers tell an absent key from a zero value, so a
// file can set a value to 0 or false and an absent key leaves the flag's
// default alone.
type scenarioFile struct {
	Name              *string           `yaml:"name,omitempty"`
	Workload          *string           `yaml:"workload,omitempty"`
	Impl              *string           `yaml:"impl,omitempty"`
	Nodes             *int              `yaml:"nodes,omitempty"`
	Bootstrap         *string           `yaml:"bootstrap,omitempty"`
	Duration          *time.Duration    `yaml:"duration,omitempty"`
	Rate              *float64          `yaml:"rate,omitempty"`
	Partitions        *int              `yaml:"partitions,omitempty"`
	Producers         *int              `yaml:"producers,omitempty"`
	AssignConsumers   *int              `yaml:"assign-consumers,omitempty"`
	GroupConsumers    *int              `yaml:"group-consumers,omitempty"`
	Readers           *int              `yaml:"readers,omitempty"`
	ReadRate          *float64          `yaml:"read-rate,omitempty"`
	RecordBytes       *int              `yaml:"record-bytes,omitempty"`
	Acks              *string           `yaml:"acks,omitempty"`
	ReplicationFactor *int              `yaml:"replication-factor,omitempty"`
	MinInsyncReplicas *int              `yaml:"min-insync-replicas,omitempty"`
	Faults            *faultList        `yaml:"faults,omitempty"`
	Schedule          *string           `yaml:"schedule,omitempty"`
	MeanQuiet         *time.Duration    `yaml:"mean-quiet,omitempty"`
	MeanFault         *time.Duration    `yaml:"mean-fault,omitempty"`
	RecoveryTimeout   *time.Duration    `yaml:"recovery-timeout,omitempty"`
	NetNS             *bool             `yaml:"netns,omitempty"`
	Proxy             *bool             `yaml:"proxy,omitempty"`
	Set               map[string]string `yaml:"set,omitempty"`
	Seed              *int64            `yaml:"seed,omitempty"`
}

// faultList is the faults key: "kill,pause" as on the command line, or a
// YAML list of names.
type faultList string

// UnmarshalYAML accepts a string or a sequence of strings.
func (l *faultList) UnmarshalYAML(node *yaml.Node) error {
	if node.Kind == yaml.SequenceNode {
		var names []string
		if err := node.Load(&names); err != nil {
			return err
		}
		*l = faultList(strings.Join(names, ","))
		return nil
	}
	var s string
	if err := node.Load(&s); err != nil {
		return err
	}
	*l = faultList(s)
	return nil
}

// parseScenarioFile decodes a scenario; an unknown key is an error that
// names it (the decoder reports "field X not found").
func parseScenarioFile(data []byte) (scenarioFile, error) {
	var sf scenarioFile
	if onlyComments(data) {
		return sf, nil // the decoder calls that "no documents"; it is an empty scenario
	}
	if err := yaml.Load(data, &sf, yaml.WithKnownFields()); err != nil {
		return scenarioFile{}, fmt.Errorf("%w: %v", errScenarioFile, err)
	}
	return sf, nil
}

// readScenarioFile reads and decodes the scenario at path.
func readScenarioFile(path string) (scenarioFile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return scenarioFile{}, fmt.Errorf("%w: %v", errScenarioFile, err)
	}
	sf, err := parseScenarioFile(data)
	if err != nil {
		return scenarioFile{}, fmt.Errorf("%s: %w", path, err)
	}
	return sf, nil
}

// mergeScenarioFile copies the file's values into f, except where changed
// says the flag was given on the command line: explicit flags win. Set
// merges key by key, the command line's --set winning. It reports whether
// the seed now has a value from either source.
func mergeScenarioFile(f *chaosFlags, sf scenarioFile, changed func(flag string) bool) (seedSet bool) {
	take := func(flag string, dst any, src any) {
		if changed(flag) {
			return
		}
		switch d := dst.(type) {
		case *string:
			if s := src.(*string); s != nil {
				*d = *s
			}
		case *int:
			if s := src.(*int); s != nil {
				*d = *s
			}
		case *int64:
			if s := src.(*int64); s != nil {
				*d = *s
			}
		case *float64:
			if s := src.(*float64); s != nil {
				*d = *s
			}
		case *bool:
			if s := src.(*bool); s != nil {
				*d = *s
			}
		case *time.Duration:
			if s := src.(*time.Duration); s != nil {
				*d = *s
			}
		}
	}
	take("scenario", &f.scenario, sf.Name)
	take("workload", &f.workload, sf.Workload)
	take("impl", &f.impl, sf.Impl)
	take("nodes", &f.nodes, sf.Nodes)
	take("bootstrap", &f.bootstrap, sf.Bootstrap)
	take("duration", &f.duration, sf.Duration)
	take("rate", &f.rate, sf.Rate)
	take("partitions", &f.partitions, sf.Partitions)
	take("producers", &f.producers, sf.Producers)
	take("assign-consumers", &f.assign, sf.AssignConsumers)
	take("group-consumers", &f.group, sf.GroupConsumers)
	take("readers", &f.readers, sf.Readers)
	take("read-rate", &f.readRate, sf.ReadRate)
	take("record-bytes", &f.recordBytes, sf.RecordBytes)
	take("acks", &f.acks, sf.Acks)
	take("replication-factor", &f.rf, sf.ReplicationFactor)
	take("min-insync-replicas", &f.minISR, sf.MinInsyncReplicas)
	if !changed("faults") && !changed("nemesis") && sf.Faults != nil {
		f.faults, f.nemesis = string(*sf.Faults), ""
	}
	take("schedule", &f.schedule, sf.Schedule)
	take("mean-quiet", &f.meanQuiet, sf.MeanQuiet)
	take("mean-fault", &f.meanFault, sf.MeanFault)
	take("recovery-timeout", &f.recovery, sf.RecoveryTimeout)
	take("netns", &f.netns, sf.NetNS)
	take("proxy", &f.proxy, sf.Proxy)
	take("seed", &f.seed, sf.Seed)
	if len(sf.Set) > 0 {
		// The file's entries first, so ParseSet lets a later --set win.
		var set []string
		for _, k := range slices.Sorted(maps.Keys(sf.Set)) {
			set = append(set, k+"="+sf.Set[k])
		}
		f.set = append(set, f.set...)
	}
	return changed("seed") || sf.Seed != nil
}

// scenarioFileFrom is the resolved scenario the flags describe, with the
// defaults that depend on other values (nodes, rate, replication) filled
// in: what --print-scenario prints.
func scenarioFileFrom(f chaosFlags) (scenarioFile, error) {
	sc, err := scenarioFromFlags(f)
	if err != nil {
		return scenarioFile{}, err
	}
	faults := faultList(run.FaultsAll)
	switch {
	case sc.Faults == nil:
	case len(sc.Faults) == 0:
		faults = "none"
	default:
		faults = faultList(strings.Join(sc.Faults, ","))
	}
	w := sc.Workload
	sf := scenarioFile{
		Name: &sc.Name, Workload: &f.workload, Impl: &f.impl, Nodes: &sc.Cluster.Nodes,
		Duration: &w.Duration, Rate: &w.SendRatePerSec, Partitions: &w.Partitions,
		Producers: &w.Producers, AssignConsumers: &w.AssignConsumers, GroupConsumers: &w.GroupConsumers,
		Readers: &w.Readers, ReadRate: &w.ReadRatePerSec, RecordBytes: &w.RecordBytes, Acks: &f.acks,
		ReplicationFactor: &w.ReplicationFactor, MinInsyncReplicas: &w.MinInsyncReplicas,
		Faults: &faults, MeanQuiet: &sc.MeanQuiet, MeanFault: &sc.MeanFault,
		NetNS: &f.netns, Proxy: &f.proxy, Set: sc.Cluster.Set, Seed: &f.seed,
	}
	if f.bootstrap != "" {
		sf.Bootstrap = &f.bootstrap
	}
	if f.schedule != "" {
		sf.Schedule = &f.schedule
	}
	if f.recovery != 0 {
		sf.RecoveryTimeout = &f.recovery
	}
	return sf, nil
}

// printScenario renders the resolved scenario as YAML a --file accepts.
func printScenario(f chaosFlags) ([]byte, error) {
	sf, err := scenarioFileFrom(f)
	if err != nil {
		return nil, err
	}
	return yaml.Dump(&sf)
}

// onlyComments says whether data has no YAML besides blank and comment lines.
func onlyComments(data []byte) bool {
	for line := range strings.Lines(string(data)) {
		if l := strings.TrimSpace(line); l != "" && !strings.HasPrefix(l, "#") && l != "---" {
			return false
		}
	}
	return true
}
