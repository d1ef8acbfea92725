package sizing

import (
	"errors"
	"os"
	"testing"
)

func TestParseCalibration(t *testing.T) {
	good := `{"schema":"highwater.sizing.calibration/v1","instanceType":"local","vcpu":2,"brokers":1,
		"replicationFactor":1,"produceMBps":120,"consumeMBps":300,"partitions":12,"source":"test"}`
	c, err := ParseCalibration([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if c.ProduceMBps != 120 || c.VCPU != 2 || c.Partitions != 12 {
		t.Errorf("got %+v", c)
	}
	cat := mustCatalog(t)
	bad := []struct{ name, json string }{
		{"unknown field", `{"produceMBps":1,"vcpu":1,"sustainable":3}`},
		{"not json", `{`},
	}
	for _, tc := range bad {
		if _, err := ParseCalibration([]byte(tc.json)); !errors.Is(err, ErrCalibration) {
			t.Errorf("%s: err = %v", tc.name, err)
		}
	}
	unusable := []Calibration{
		{ProduceMBps: 10},                                            // no vcpu, no known type
		{ProduceMBps: 0, VCPU: 2},                                    // nothing measured
		{ProduceMBps: 10, VCPU: 2, Schema: "v0"},                     // foreign schema
		{ProduceMBps: 10, VCPU: 2, Brokers: 1, ReplicationFactor: 3}, // RF above brokers
	}
	for _, c := range unusable {
		if _, err := Size(ExampleWorkload(), cat, Options{Calibration: &c}); !errors.Is(err, ErrCalibration) {
			t.Errorf("%+v: err = %v, want ErrCalibration", c, err)
		}
	}
}

func TestCalibratedSizing(t *testing.T) {
	cat := mustCatalog(t)
	cases := []struct {
		name    string
		cal     Calibration
		typ     string
		brokers int
		binding Resource
	}{
		// A measured m5.xlarge that writes 100 MB/s and serves 200 MB/s: the
		// catalogue's limits bind first, as without calibration.
		{"fast measurement changes nothing", Calibration{InstanceType: "kafka.m5.xlarge", ProduceMBps: 100, ConsumeMBps: 200},
			"kafka.m5.xlarge", 6, ResIngress},
		// Slower broker software: 25 MB/s written per 2 vCPUs. At the 60 %
		// CPU target an m5.xlarge (scaled ×2) takes 30 MB/s of replica
		// writes; 198 MB/s need 7 brokers up, so 9 (3 AZs, one down), which
		// beats m5.2xlarge × 6 and m5.large × 24.
		{"slow measurement needs more brokers", Calibration{InstanceType: "local", VCPU: 2, ProduceMBps: 25},
			"kafka.m5.xlarge", 9, ResIngress},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.cal
			p := mustSize(t, ExampleWorkload(), cat, Options{Calibration: &c})
			if !p.Calibrated || p.InstanceType != tc.typ || p.Brokers != tc.brokers || p.Binding != tc.binding {
				t.Errorf("got %s × %d binding %s (calibrated %v), want %s × %d binding %s",
					p.InstanceType, p.Brokers, p.Binding, p.Calibrated, tc.typ, tc.brokers, tc.binding)
			}
			for _, u := range p.Resources {
				if u.Resource == ResCPU {
					t.Errorf("calibrated plan still uses the CPU assumption")
				}
			}
			checkPlanInvariants(t, ExampleWorkload(), p)
		})
	}
	// The measured per-partition rate sets the partition count.
	c := Calibration{InstanceType: "local", VCPU: 2, ProduceMBps: 100, Partitions: 50}
	if p := mustSize(t, ExampleWorkload(), cat, Options{Calibration: &c}); p.Partitions != 36 {
		t.Errorf("partitions at 2 MB/s each for 66 MB/s = %d, want 33 rounded up to 36", p.Partitions)
	}
}

// TestCalibrationSample keeps the documented sample file readable, so the
// format bench writes has one checked example.
func TestCalibrationSample(t *testing.T) {
	data, err := os.ReadFile("testdata/calibration.json")
	if err != nil {
		t.Fatal(err)
	}
	c, err := ParseCalibration(data)
	if err != nil {
		t.Fatal(err)
	}
	p := mustSize(t, ExampleWorkload(), mustCatalog(t), Options{Calibration: &c})
	if p.InstanceType != "kafka.m5.xlarge" || p.Brokers != 6 || p.Binding != ResIngress {
		t.Errorf("sample calibration: %s × %d binding %s", p.InstanceType, p.Brokers, p.Binding)
	}
}
