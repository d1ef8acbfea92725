package scenarios

import (
	"testing"
	"time"
)

// TestCatalogue checks the catalogue as data: every entry is a valid
// scenario with a unique name, a smoke or nightly label, seeds and a
// timeout; an ExpectAnomaly entry names its anomalies; smoke stays short.
func TestCatalogue(t *testing.T) {
	seen := map[string]bool{}
	for _, e := range Catalogue {
		name := e.Scenario.Name
		if seen[name] {
			t.Errorf("%s: duplicate name", name)
		}
		seen[name] = true
		if err := e.Scenario.Defaults().Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if !e.HasLabel(LabelSmoke) && !e.HasLabel(LabelNightly) {
			t.Errorf("%s: neither smoke nor nightly: %v", name, e.Labels)
		}
		if e.HasLabel(LabelSmoke) && e.Scenario.Workload.Duration > time.Minute {
			t.Errorf("%s: smoke entry with a %v workload", name, e.Scenario.Workload.Duration)
		}
		if len(e.Seeds) == 0 || e.Timeout <= 0 {
			t.Errorf("%s: seeds %v, timeout %v", name, e.Seeds, e.Timeout)
		}
		if e.Expect == ExpectAnomaly && len(e.Anomalies) == 0 {
			t.Errorf("%s: expects an anomaly but names none", name)
		}
		if e.Timeout < e.Scenario.Workload.Duration {
			t.Errorf("%s: timeout %v below the %v workload", name, e.Timeout, e.Scenario.Workload.Duration)
		}
	}
}

// TestExpectationString names every expectation.
func TestExpectationString(t *testing.T) {
	for e, want := range map[Expectation]string{ExpectValid: "valid", ExpectAnomaly: "anomaly", ExpectRecord: "record", 9: "expectation(9)"} {
		if got := e.String(); got != want {
			t.Errorf("%d: %q, want %q", int(e), got, want)
		}
	}
}
