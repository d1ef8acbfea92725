package sizing

import (
	"errors"
	"math"
	"testing"

	"pgregory.net/rapid"
)

func TestParseWorkload(t *testing.T) {
	cases := []struct {
		name string
		yaml string
		want func(Workload) bool
		err  error
	}{
		{"empty file is the example", ``, func(w Workload) bool { return w == ExampleWorkload() }, nil},
		{"partial file keeps the rest", "ingestMBps: 200\ntieredStorage: false\n", func(w Workload) bool {
			e := ExampleWorkload()
			e.IngestMBps, e.TieredStorage = 200, false
			return w == e
		}, nil},
		{"unknown key", "ingestMbps: 200\n", nil, ErrWorkload},
		{"wrong type", "replicationFactor: three\n", nil, ErrWorkload},
		{"invalid value", "availabilityZones: 0\n", nil, ErrWorkload},
		{"not a mapping", "- 1\n- 2\n", nil, ErrWorkload},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w, err := ParseWorkload([]byte(tc.yaml))
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tc.want(w) {
				t.Errorf("got %+v", w)
			}
		})
	}
}

// TestWorkloadYAMLRoundTrip: what --print-workload prints, --workload reads
// back unchanged.
func TestWorkloadYAMLRoundTrip(t *testing.T) {
	w := ExampleWorkload()
	w.IngestPeakMBps, w.Partitions, w.PartitionMBps = 90, 24, 7.5
	data, err := w.YAML()
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseWorkload(data)
	if err != nil {
		t.Fatalf("%v\n%s", err, data)
	}
	if back != w {
		t.Errorf("round trip changed the workload:\n%+v\n%+v", w, back)
	}
}

// TestSizeNeverPanics: arbitrary workloads either size, with every plan
// invariant kept, or fail with one of the package's sentinel errors.
func TestSizeNeverPanics(t *testing.T) {
	cat := mustCatalog(t)
	f := func(lo, hi float64) *rapid.Generator[float64] {
		return rapid.OneOf(rapid.Float64Range(lo, hi), rapid.SampledFrom([]float64{0, -1, math.NaN(), math.Inf(1)}))
	}
	rapid.Check(t, func(rt *rapid.T) {
		w := Workload{
			IngestMBps:              f(0, 5000).Draw(rt, "ingest"),
			IngestPeakMBps:          f(0, 8000).Draw(rt, "peak"),
			DataOutMBps:             f(0, 10000).Draw(rt, "out"),
			ConsumerGroups:          rapid.IntRange(-1, 10).Draw(rt, "groups"),
			ReplicationFactor:       rapid.IntRange(0, 5).Draw(rt, "rf"),
			RetentionHours:          f(0, 2000).Draw(rt, "retention"),
			TieredStorage:           rapid.Bool().Draw(rt, "tiered"),
			LocalRetentionHours:     f(0, 100).Draw(rt, "local"),
			TieredReadPercent:       f(0, 120).Draw(rt, "tieredRead"),
			AvailabilityZones:       rapid.IntRange(0, 4).Draw(rt, "azs"),
			NearestReplicaFetching:  rapid.Bool().Draw(rt, "nearest"),
			LaggingConsumersPercent: f(0, 120).Draw(rt, "lagging"),
			EncryptionInTransit:     rapid.Bool().Draw(rt, "tls"),
			SafetyFactor:            f(0.5, 3).Draw(rt, "safety"),
			DiskUtilisationPercent:  f(1, 110).Draw(rt, "disk"),
			UtilisationPercent:      f(1, 110).Draw(rt, "util"),
			CPUUtilisationPercent:   f(1, 110).Draw(rt, "cpu"),
			RAMCachedSeconds:        f(0, 600).Draw(rt, "cache"),
			BrokersDownTolerated:    rapid.IntRange(-1, 3).Draw(rt, "down"),
			MaxBrokers:              rapid.IntRange(0, 60).Draw(rt, "maxBrokers"),
			Partitions:              rapid.IntRange(-1, 20000).Draw(rt, "partitions"),
			PartitionMBps:           f(0, 50).Draw(rt, "partitionMBps"),
			ConsumerParallelism:     rapid.IntRange(-1, 500).Draw(rt, "parallelism"),
		}
		p, err := Size(w, cat, Options{})
		if err != nil {
			if !errors.Is(err, ErrWorkload) && !errors.Is(err, ErrNoFit) {
				rt.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		if p.Brokers%w.AvailabilityZones != 0 || p.Brokers > w.MaxBrokers || p.Brokers < w.ReplicationFactor {
			rt.Fatalf("brokers %d breaks AZ multiple / quota / RF for %+v", p.Brokers, w)
		}
		for _, u := range p.Resources {
			if !u.fits() {
				rt.Fatalf("plan runs %s over target: %+v", u.Resource, u)
			}
		}
		if c := p.Costs.chosen(w); math.IsNaN(c) || c <= 0 {
			rt.Fatalf("cost %v", c)
		}
	})
}
