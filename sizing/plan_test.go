package sizing

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
)

func mustCatalog(t *testing.T) Catalog {
	t.Helper()
	cat, err := DefaultCatalog()
	if err != nil {
		t.Fatalf("embedded catalogue: %v", err)
	}
	return cat
}

func mustSize(t *testing.T, w Workload, cat Catalog, opt Options) Plan {
	t.Helper()
	p, err := Size(w, cat, opt)
	if err != nil {
		t.Fatalf("Size: %v", err)
	}
	return p
}

// TestPublishedExample protects the acceptance case: the MSK sizing
// spreadsheet's worked example (shared/SIZING.md), figure by figure. The
// type and count come out of the capacity rules, not a special case.
func TestPublishedExample(t *testing.T) {
	p := mustSize(t, ExampleWorkload(), mustCatalog(t), Options{})
	checks := []struct {
		name      string
		got, want float64
		tolerance float64 // absolute
	}{
		{"brokers", float64(p.Brokers), 6, 0},
		{"storage per broker GB (rounded)", float64(p.StoragePerBrokerGBRounded), 290, 0},
		{"storage per broker GB", p.StoragePerBrokerGB, 290.04, 0.005},
		{"tiered storage GB", p.TieredStorageGB, 16706.25, 1e-9},
		{"MSK with tiered storage, to the dollar", math.Round(p.Costs.MSKTiered.Total), 5274, 0},
		{"MSK without tiered storage, to the dollar", math.Round(p.Costs.MSKLocal.Total), 10363, 0},
		{"MSK tiered: broker-hours", p.Costs.MSKTiered.Brokers, 1839.60, 0.005},
		{"MSK tiered: storage", p.Costs.MSKTiered.Storage, 174.02, 0.005},
		{"MSK tiered: tiered", p.Costs.MSKTiered.Tiered, 1002.38, 0.005},
		{"MSK tiered: cross-AZ", p.Costs.MSKTiered.CrossAZ, 2258.44, 0.005},
		{"MSK local: storage", p.Costs.MSKLocal.Storage, 6264.84, 0.005},
		{"self-managed EC2 (documented model)", p.Costs.SelfManagedEC2.Total, 16139.55, 0.005},
	}
	if p.InstanceType != "kafka.m5.xlarge" {
		t.Errorf("instance type = %s, want kafka.m5.xlarge", p.InstanceType)
	}
	for _, c := range checks {
		if math.Abs(c.got-c.want) > c.tolerance {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if gap := math.Abs(p.Costs.SelfManagedEC2.Total-16102) / 16102; gap > 0.005 {
		t.Errorf("self-managed EC2 $%.2f is %.2f%% from the published $16,102 (allowed 0.5%%)", p.Costs.SelfManagedEC2.Total, gap*100)
	}
	if p.Binding != ResPageCache {
		t.Errorf("binding = %s, want %s", p.Binding, ResPageCache)
	}
	// The tie that decides the example: m5.2xlarge × 3 costs exactly the
	// same, and the smaller type wins.
	i := slices.IndexFunc(p.Candidates, func(c Candidate) bool { return c.Type == "kafka.m5.2xlarge" })
	if i < 0 || !p.Candidates[i].Fits || p.Candidates[i].Brokers != 3 ||
		math.Round(p.Candidates[i].MonthlyCost*100) != math.Round(p.Costs.MSKTiered.Total*100) {
		t.Errorf("kafka.m5.2xlarge candidate = %+v, want 3 brokers at the chosen cost", p.Candidates)
	}
}

// TestExampleRulesExplained pins the two reasons SIZING.md's bound alone is
// not enough (doc.go): without the one-broker-down rule m5.xlarge × 3
// would do, and without the heap a cheap m5.large cluster would.
func TestExampleRulesExplained(t *testing.T) {
	cat := mustCatalog(t)
	w := ExampleWorkload()
	w.BrokersDownTolerated = 0
	if p := mustSize(t, w, cat, Options{Types: []string{"kafka.m5.xlarge"}}); p.Brokers != 3 {
		t.Errorf("no broker down: m5.xlarge × %d, want × 3", p.Brokers)
	}
	noHeap := mustCatalog(t)
	for i := range noHeap.Types {
		noHeap.Types[i].HeapGiB = 0
	}
	m5 := Options{Types: []string{"kafka.m5.large", "kafka.m5.xlarge", "kafka.m5.2xlarge"}}
	if p := mustSize(t, ExampleWorkload(), noHeap, m5); p.InstanceType != "kafka.m5.large" {
		t.Errorf("no heap: chose %s × %d, want kafka.m5.large", p.InstanceType, p.Brokers)
	}
}

func TestSizingTable(t *testing.T) {
	cat := mustCatalog(t)
	type want struct {
		typ     string // "" = any
		brokers int    // 0 = any
		err     error
	}
	cases := []struct {
		name string
		edit func(*Workload)
		want want
	}{
		{"published example", func(*Workload) {}, want{"kafka.m5.xlarge", 6, nil}},
		{"two AZs: even broker count", func(w *Workload) { w.AvailabilityZones = 2 }, want{"kafka.m5.xlarge", 4, nil}},
		{"200 MB/s: more brokers", func(w *Workload) { w.IngestMBps, w.DataOutMBps = 200, 200 }, want{"kafka.m5.xlarge", 9, nil}},
		{"peak counts for capacity", func(w *Workload) { w.IngestPeakMBps = 200 }, want{"kafka.m5.xlarge", 9, nil}},
		{"1000 MB/s: bigger type", func(w *Workload) { w.IngestMBps, w.DataOutMBps = 1000, 1000 }, want{"kafka.m5.2xlarge", 18, nil}},
		{"safety factor 2", func(w *Workload) { w.SafetyFactor = 2 }, want{"", 0, nil}},
		{"tiny workload fits the smallest", func(w *Workload) {
			w.IngestMBps, w.DataOutMBps, w.RAMCachedSeconds, w.EncryptionInTransit = 0.5, 0.5, 10, false
		}, want{"kafka.t3.small", 3, nil}},
		{"too big for 30 of the biggest", func(w *Workload) { w.IngestMBps, w.DataOutMBps = 20000, 20000 }, want{err: ErrNoFit}},
		{"quota below the minimum cluster", func(w *Workload) { w.MaxBrokers = 2 }, want{err: ErrNoFit}},
		{"bad: no ingest", func(w *Workload) { w.IngestMBps = 0 }, want{err: ErrWorkload}},
		{"bad: NaN", func(w *Workload) { w.RetentionHours = math.NaN() }, want{err: ErrWorkload}},
		{"bad: peak below average", func(w *Workload) { w.IngestPeakMBps = 10 }, want{err: ErrWorkload}},
		{"bad: local retention above total", func(w *Workload) { w.LocalRetentionHours = 100 }, want{err: ErrWorkload}},
		{"bad: safety factor below 1", func(w *Workload) { w.SafetyFactor = 0.5 }, want{err: ErrWorkload}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := ExampleWorkload()
			tc.edit(&w)
			p, err := Size(w, cat, Options{})
			if tc.want.err != nil {
				if !errors.Is(err, tc.want.err) {
					t.Fatalf("err = %v, want %v", err, tc.want.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Size: %v", err)
			}
			if tc.want.typ != "" && p.InstanceType != tc.want.typ || tc.want.brokers != 0 && p.Brokers != tc.want.brokers {
				t.Errorf("got %s × %d, want %s × %d", p.InstanceType, p.Brokers, tc.want.typ, tc.want.brokers)
			}
			checkPlanInvariants(t, w, p)
		})
	}
}

// checkPlanInvariants are the promises every plan keeps.
func checkPlanInvariants(t *testing.T, w Workload, p Plan) {
	t.Helper()
	if p.Brokers%w.AvailabilityZones != 0 {
		t.Errorf("brokers %d not a multiple of %d AZs", p.Brokers, w.AvailabilityZones)
	}
	if p.Brokers > w.MaxBrokers || p.Brokers < w.ReplicationFactor {
		t.Errorf("brokers %d outside [RF %d, max %d]", p.Brokers, w.ReplicationFactor, w.MaxBrokers)
	}
	for _, u := range p.Resources {
		if !u.fits() {
			t.Errorf("chosen plan runs %s at %.1f%%, over its %.0f%% target", u.Resource, u.UsedPercent, u.TargetPercent)
		}
	}
	if p.PartitionsPerBroker > p.PartitionLimit {
		t.Errorf("partition replicas per broker %d above the limit %d", p.PartitionsPerBroker, p.PartitionLimit)
	}
	// Nothing fitting is cheaper than the choice.
	for _, c := range p.Candidates {
		if c.Fits && math.Round(c.MonthlyCost*100) < math.Round(p.Costs.chosen(w)*100) {
			t.Errorf("candidate %s × %d at $%.2f is cheaper than the chosen $%.2f", c.Type, c.Brokers, c.MonthlyCost, p.Costs.chosen(w))
		}
	}
}

// TestMoreIngestNeverShrinks: more load never buys a smaller cluster.
func TestMoreIngestNeverShrinks(t *testing.T) {
	cat := mustCatalog(t)
	prev := 0.0
	for _, mbps := range []float64{1, 10, 66, 150, 300, 600, 1000, 2000, 4000} {
		w := ExampleWorkload()
		w.IngestMBps, w.DataOutMBps = mbps, mbps
		p := mustSize(t, w, cat, Options{})
		cost := p.Costs.chosen(w)
		if cost < prev {
			t.Errorf("%v MB/s: $%.2f, cheaper than a smaller workload's $%.2f", mbps, cost, prev)
		}
		prev = cost
		checkPlanInvariants(t, w, p)
	}
}

// TestTieGoesToSmallerType: two types with identical capacity per dollar;
// the smaller one wins whatever order the catalogue lists them in.
func TestTieGoesToSmallerType(t *testing.T) {
	base := mustCatalog(t)
	small, _ := base.Type("kafka.m5.xlarge")
	big, _ := base.Type("kafka.m5.2xlarge")
	for _, order := range [][]InstanceType{{small, big}, {big, small}} {
		cat := base
		cat.Types = order
		p := mustSize(t, ExampleWorkload(), cat, Options{})
		if p.InstanceType != small.Name || p.Brokers != 6 {
			t.Errorf("catalogue order %s, %s: chose %s × %d, want %s × 6", order[0].Name, order[1].Name, p.InstanceType, p.Brokers, small.Name)
		}
	}
}

func TestNoFitErrorNamesTheLimit(t *testing.T) {
	w := ExampleWorkload()
	w.IngestMBps, w.DataOutMBps = 20000, 20000
	_, err := Size(w, mustCatalog(t), Options{})
	if !errors.Is(err, ErrNoFit) {
		t.Fatalf("err = %v, want ErrNoFit", err)
	}
	for _, s := range []string{"30 brokers", "kafka.m5.24xlarge", "storage throughput"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not mention %q", err, s)
		}
	}
}

// TestAWSBound: with no broker down, no lagging consumers and no tiered
// storage the per-broker rules are AWS's right-sizing bound.
func TestAWSBound(t *testing.T) {
	cat := mustCatalog(t)
	w := ExampleWorkload()
	w.BrokersDownTolerated, w.LaggingConsumersPercent, w.TieredStorage = 0, 0, false
	w.DataOutMBps, w.ConsumerGroups = 0, 2
	typ, _ := cat.Type("kafka.m5.2xlarge")
	s := sizer{w: w, cat: cat}
	const n = 6
	I, r, c := w.IngestMBps, 3.0, 2.0
	want := map[Resource]float64{
		ResStorageThroughput: I * r / n,
		ResEBSNetwork:        I * r / n,
		ResNetworkOut:        I * (c + r - 1) / n,
		ResNetworkIn:         I * r / n,
	}
	for _, u := range s.resources(typ, n) {
		if v, ok := want[u.Resource]; ok && math.Abs(u.LoadPerBroker-v) > 1e-9 {
			t.Errorf("%s load %v, want %v", u.Resource, u.LoadPerBroker, v)
		}
	}
}

func TestPartitions(t *testing.T) {
	cat := mustCatalog(t)
	cases := []struct {
		name string
		edit func(*Workload)
		want int
		err  error
	}{
		{"default 10 MB/s per partition, rounded to 6 brokers", func(*Workload) {}, 12, nil},
		{"per-partition throughput", func(w *Workload) { w.PartitionMBps = 1 }, 66, nil},
		{"consumer parallelism wins", func(w *Workload) { w.ConsumerParallelism = 40 }, 42, nil},
		{"explicit count kept", func(w *Workload) { w.Partitions = 7 }, 7, nil},
		{"explicit count over every limit", func(w *Workload) { w.Partitions = 50000 }, 0, ErrNoFit},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := ExampleWorkload()
			tc.edit(&w)
			p, err := Size(w, cat, Options{})
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.Partitions != tc.want {
				t.Errorf("partitions = %d, want %d", p.Partitions, tc.want)
			}
			checkPlanInvariants(t, w, p)
		})
	}
	// Many partitions push the count up: 4,000 partitions × RF 3 need at
	// least 12 brokers at 1,000 replicas each.
	w := ExampleWorkload()
	w.Partitions = 4000
	p := mustSize(t, w, cat, Options{Types: []string{"kafka.m5.xlarge"}})
	if p.Brokers != 12 || p.Binding != ResPartitions {
		t.Errorf("4000 partitions on m5.xlarge: %d brokers binding %s, want 12 binding partitions", p.Brokers, p.Binding)
	}
}

func TestCostsWithoutNearestReplicaFetching(t *testing.T) {
	cat := mustCatalog(t)
	w := ExampleWorkload()
	w.NearestReplicaFetching = false
	p := mustSize(t, w, cat, Options{})
	// Consumers now cross AZs like producers: twice the example's cross-AZ.
	if got, want := p.Costs.MSKTiered.CrossAZ, 2*2258.4375; math.Abs(got-want) > 1e-6 {
		t.Errorf("cross-AZ = %v, want %v", got, want)
	}
}

func TestTypesFilter(t *testing.T) {
	cat := mustCatalog(t)
	p := mustSize(t, ExampleWorkload(), cat, Options{Types: []string{"kafka.m5.4xlarge"}})
	if p.InstanceType != "kafka.m5.4xlarge" || p.Brokers != 3 {
		t.Errorf("got %s × %d", p.InstanceType, p.Brokers)
	}
	if _, err := Size(ExampleWorkload(), cat, Options{Types: []string{"nope"}}); !errors.Is(err, ErrWorkload) {
		t.Errorf("unknown type: err = %v", err)
	}
}
