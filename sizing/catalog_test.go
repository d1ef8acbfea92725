package sizing

import (
	"errors"
	"math"
	"strings"
	"testing"
)

// TestCatalogMatchesSizingTable guards the embedded catalogue against the
// broker-type table in shared/SIZING.md.
func TestCatalogMatchesSizingTable(t *testing.T) {
	cat := mustCatalog(t)
	table := []struct {
		name       string
		vcpu       int
		memGiB     float64
		netGbps    float64 // the table's figure: the burst/"up to" rate
		partitions int
		storage    float64
	}{
		{"kafka.t3.small", 2, 2, 5, 300, 250},
		{"kafka.m5.large", 2, 8, 10, 1000, 250},
		{"kafka.m5.xlarge", 4, 16, 10, 1000, 250},
		{"kafka.m5.2xlarge", 8, 32, 10, 2000, 250},
		{"kafka.m5.4xlarge", 16, 64, 10, 4000, 593},
		{"kafka.m5.8xlarge", 32, 128, 10, 4000, 850},
		{"kafka.m5.12xlarge", 48, 192, 12, 4000, 1000},
		{"kafka.m5.16xlarge", 64, 256, 20, 4000, 1000},
		{"kafka.m5.24xlarge", 96, 384, 25, 4000, 1000},
	}
	if len(cat.Types) != len(table) {
		t.Errorf("catalogue has %d types, SIZING.md %d", len(cat.Types), len(table))
	}
	for _, want := range table {
		got, ok := cat.Type(want.name)
		if !ok {
			t.Errorf("%s missing", want.name)
			continue
		}
		if got.VCPU != want.vcpu || got.MemoryGiB != want.memGiB || got.NetworkBurstGbps != want.netGbps ||
			got.MaxPartitions != want.partitions || got.StorageMaxMBps != want.storage {
			t.Errorf("%s = %+v, SIZING.md says %+v", want.name, got, want)
		}
		if got.NetworkBaselineGbps > got.NetworkBurstGbps {
			t.Errorf("%s: baseline network above burst", want.name)
		}
	}
	if xl, _ := cat.Type("kafka.m5.xlarge"); xl.MSKPerHour != 0.42 {
		t.Errorf("m5.xlarge MSK price %v, the published example uses $0.42/h", xl.MSKPerHour)
	}
	p := cat.Prices
	if p.MSKStoragePerGBMonth != 0.10 || p.MSKTieredPerGBMonth != 0.06 || p.CrossAZPerGB != 0.02 || cat.HoursPerMonth != 730 {
		t.Errorf("prices %+v / %v h differ from SIZING.md's", p, cat.HoursPerMonth)
	}
}

func TestParseCatalogErrors(t *testing.T) {
	good := string(DefaultCatalogYAML())
	cases := []struct{ name, yaml string }{
		{"not yaml", "{"},
		{"unknown key", strings.Replace(good, "mskPerHour: 0.42", "mskPerHr: 0.42", 1)},
		{"no types", "hoursPerMonth: 730\n"},
		{"zero vcpu", strings.Replace(good, "vcpu: 4\n", "vcpu: 0\n", 1)},
		{"volume without price", strings.Replace(good, "selfManagedVolume: gp2", "selfManagedVolume: io2", 1)},
		{"duplicate type", strings.Replace(good, "name: kafka.m5.xlarge", "name: kafka.m5.large", 1)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ParseCatalog([]byte(tc.yaml)); !errors.Is(err, ErrCatalog) {
				t.Errorf("err = %v, want ErrCatalog", err)
			}
		})
	}
}

// TestEditedCatalogChangesThePlan: the catalogue is data; a price edit
// flows through to the choice and the bill.
func TestEditedCatalogChangesThePlan(t *testing.T) {
	text := strings.Replace(string(DefaultCatalogYAML()), "mskPerHour: 0.84", "mskPerHour: 0.80", 1)
	cat, err := ParseCatalog([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	p := mustSize(t, ExampleWorkload(), cat, Options{})
	if p.InstanceType != "kafka.m5.2xlarge" || p.Brokers != 3 {
		t.Errorf("cheaper m5.2xlarge: chose %s × %d, want kafka.m5.2xlarge × 3", p.InstanceType, p.Brokers)
	}
	if got, want := p.Costs.MSKTiered.Brokers, 3*0.80*730; math.Abs(got-want) > 1e-9 {
		t.Errorf("broker cost %v, want %v", got, want)
	}
}
