package sizing

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

// ErrNoFit means no broker type carries the workload within MaxBrokers.
var ErrNoFit = errors.New("sizing: workload does not fit")

// Resource names a per-broker limit.
type Resource string

// The resources a plan checks, per broker.
const (
	ResStorageThroughput Resource = "storage throughput"
	ResEBSNetwork        Resource = "EBS network"
	ResNetworkOut        Resource = "EC2 network out"
	ResNetworkIn         Resource = "EC2 network in"
	ResPageCache         Resource = "page cache"
	ResCPU               Resource = "CPU"
	ResIngress           Resource = "ingress (measured)"
	ResEgress            Resource = "egress (measured)"
	ResPartitions        Resource = "partitions"
	ResStorageCapacity   Resource = "storage capacity"
)

// ResourceUse is one resource's load against its capacity on one broker
// while BrokersDownTolerated brokers are out.
type ResourceUse struct {
	Resource          Resource `json:"resource"`
	Unit              string   `json:"unit"`
	LoadPerBroker     float64  `json:"loadPerBroker"`
	CapacityPerBroker float64  `json:"capacityPerBroker"`
	// UsedPercent is load / capacity.
	UsedPercent float64 `json:"usedPercent"`
	// TargetPercent is the most of the capacity the plan lets it use.
	TargetPercent float64 `json:"targetPercent"`
	// HeadroomPercent is how much the workload can grow before this resource
	// reaches its target (negative: over target).
	HeadroomPercent float64 `json:"headroomPercent"`
	// Unbounded is set when the workload puts no load on the resource.
	Unbounded bool `json:"unbounded,omitempty"`
}

// fits reports whether the load is within target (with a hair of slack for
// floating point, so an exact fit counts).
func (r ResourceUse) fits() bool { return r.UsedPercent <= r.TargetPercent*(1+1e-9) }

// pressure is load relative to target; the highest binds.
func (r ResourceUse) pressure() float64 {
	if r.TargetPercent <= 0 {
		return math.Inf(1)
	}
	return r.UsedPercent / r.TargetPercent
}

// Candidate is the fewest brokers of one type that carry the workload (or
// why none do).
type Candidate struct {
	Type        string   `json:"type"`
	Brokers     int      `json:"brokers,omitempty"`
	MonthlyCost float64  `json:"monthlyCost,omitempty"`
	Fits        bool     `json:"fits"`
	Binding     Resource `json:"binding"`
	// Reason says why the type does not fit at MaxBrokers.
	Reason string `json:"reason,omitempty"`
}

// Plan is a sized cluster.
type Plan struct {
	Workload     Workload `json:"workload"`
	InstanceType string   `json:"instanceType"`
	Brokers      int      `json:"brokers"`
	Calibrated   bool     `json:"calibrated"`

	Partitions          int `json:"partitions"`
	PartitionsPerBroker int `json:"partitionReplicasPerBroker"`
	PartitionLimit      int `json:"partitionLimitPerBroker"`

	StoragePerBrokerGB float64 `json:"storagePerBrokerGB"`
	// StoragePerBrokerGBRounded is rounded to the nearest GB as the
	// published spreadsheet shows it (290.04 -> 290).
	StoragePerBrokerGBRounded int     `json:"storagePerBrokerGBRounded"`
	LocalStorageGB            float64 `json:"localStorageGB"`
	TieredStorageGB           float64 `json:"tieredStorageGB"`

	Costs Costs `json:"monthlyCosts"`

	Binding    Resource      `json:"binding"`
	Resources  []ResourceUse `json:"resources"`
	Candidates []Candidate   `json:"candidates"`
	Notes      []string      `json:"notes,omitempty"`
	PricesDate string        `json:"pricesDate"`
}

// Options adjust the search.
type Options struct {
	// Calibration replaces the CPU assumption with measured capacity.
	Calibration *Calibration
	// Types, when not empty, restricts the choice to these catalogue names.
	Types []string
}

// sizer holds one sizing run's inputs, resolved.
type sizer struct {
	w   Workload
	cat Catalog
	cal *Calibration
}

// Size chooses the broker type and count for w and prices the result.
//
// For every type (smallest first) it finds the fewest brokers, a multiple of
// the AZ count and at least the replication factor, at which every
// per-broker resource stays within its target with BrokersDownTolerated
// brokers out; it then takes the cheapest such cluster (the MSK cost with
// tiered storage when that is on, without it otherwise), ties going to the
// smaller type.
func Size(w Workload, cat Catalog, opt Options) (Plan, error) {
	if err := w.Validate(); err != nil {
		return Plan{}, err
	}
	if err := cat.Validate(); err != nil {
		return Plan{}, err
	}
	s := sizer{w: w, cat: cat}
	if opt.Calibration != nil {
		c, err := opt.Calibration.resolve(cat)
		if err != nil {
			return Plan{}, err
		}
		s.cal = &c
	}
	types := cat.sortedTypes()
	if len(opt.Types) > 0 {
		types = slices.DeleteFunc(types, func(t InstanceType) bool { return !slices.Contains(opt.Types, t.Name) })
		if len(types) == 0 {
			return Plan{}, fmt.Errorf("%w: none of the types %v is in the catalogue", ErrWorkload, opt.Types)
		}
	}
	var (
		cands    []Candidate
		best     *InstanceType
		bestN    int
		bestCost float64
	)
	for i := range types {
		t := types[i]
		c := s.candidate(t)
		cands = append(cands, c)
		if !c.Fits {
			continue
		}
		// Costs are compared to the cent, so that equal prices reached by
		// different float paths still tie and the smaller type (earlier in
		// the sorted order) keeps the choice.
		if best == nil || math.Round(c.MonthlyCost*100) < math.Round(bestCost*100) {
			best, bestN, bestCost = &types[i], c.Brokers, c.MonthlyCost
		}
	}
	if best == nil {
		return Plan{Candidates: cands}, s.noFit(types, cands)
	}
	return s.plan(*best, bestN, cands), nil
}

// noFit explains the failure through the biggest type's binding resource.
func (s sizer) noFit(types []InstanceType, cands []Candidate) error {
	last := cands[len(cands)-1]
	return fmt.Errorf("%w: needs more than %d brokers even of %s (%s)",
		ErrNoFit, s.w.MaxBrokers, types[len(types)-1].Name, last.Reason)
}

// brokerSteps lists the broker counts to try: multiples of the AZ count from
// the smallest that holds every replica on its own broker and leaves one up.
func (s sizer) brokerSteps() []int {
	az := s.w.AvailabilityZones
	low := max(s.w.ReplicationFactor, s.w.BrokersDownTolerated+1, az)
	first := (low + az - 1) / az * az
	var out []int
	for n := first; n <= s.w.MaxBrokers; n += az {
		out = append(out, n)
	}
	return out
}

// candidate finds the fewest brokers of t that fit.
func (s sizer) candidate(t InstanceType) Candidate {
	steps := s.brokerSteps()
	if len(steps) == 0 {
		return Candidate{Type: t.Name, Reason: fmt.Sprintf("maxBrokers %d is below the minimum cluster for %d AZs and RF %d",
			s.w.MaxBrokers, s.w.AvailabilityZones, s.w.ReplicationFactor)}
	}
	var uses []ResourceUse
	for _, n := range steps {
		uses = s.resources(t, n)
		if allFit(uses) {
			costs := s.costs(t, n)
			return Candidate{Type: t.Name, Brokers: n, Fits: true, MonthlyCost: costs.chosen(s.w), Binding: binding(uses).Resource}
		}
	}
	b := binding(uses)
	n := steps[len(steps)-1]
	return Candidate{Type: t.Name, Binding: b.Resource,
		Reason: fmt.Sprintf("at %d brokers %s would run at %.0f%% of capacity, target %.0f%%", n, b.Resource, b.UsedPercent, b.TargetPercent)}
}

func allFit(uses []ResourceUse) bool {
	for _, u := range uses {
		if !u.fits() {
			return false
		}
	}
	return true
}

// binding is the resource closest to (or furthest past) its target.
func binding(uses []ResourceUse) ResourceUse {
	var b ResourceUse
	for i, u := range uses {
		if i == 0 || u.pressure() > b.pressure() {
			b = u
		}
	}
	return b
}

// plan assembles the report for the chosen type and count.
func (s sizer) plan(t InstanceType, n int, cands []Candidate) Plan {
	uses := s.resources(t, n)
	st := s.storage(n)
	parts := s.partitions(n)
	p := Plan{
		Workload:                  s.w,
		InstanceType:              t.Name,
		Brokers:                   n,
		Calibrated:                s.cal != nil,
		Partitions:                parts,
		PartitionsPerBroker:       ceilDiv(parts*s.w.ReplicationFactor, n),
		PartitionLimit:            t.MaxPartitions,
		StoragePerBrokerGB:        st.localGB / float64(n),
		StoragePerBrokerGBRounded: max(1, int(math.Round(st.localGB/float64(n)))), // MSK's smallest volume is 1 GB
		LocalStorageGB:            st.localGB,
		TieredStorageGB:           st.tieredGB,
		Costs:                     s.costs(t, n),
		Binding:                   binding(uses).Resource,
		Resources:                 uses,
		Candidates:                cands,
		PricesDate:                s.cat.PricesDate,
	}
	if full := st.fullGB / float64(n); full > s.cat.Assumptions.MaxVolumeGB {
		p.Notes = append(p.Notes, fmt.Sprintf("without tiered storage each broker would need %.0f GB, above the %.0f GB volume limit: that price assumes a volume MSK cannot provision", full, s.cat.Assumptions.MaxVolumeGB))
	}
	for _, c := range cands {
		if c.Fits && c.Type != t.Name && math.Round(c.MonthlyCost*100) == math.Round(p.Costs.chosen(s.w)*100) {
			p.Notes = append(p.Notes, fmt.Sprintf("%s × %d costs the same; ties go to the smaller type", c.Type, c.Brokers))
		}
	}
	if s.cal != nil {
		p.Notes = append(p.Notes, fmt.Sprintf("CPU capacity from a measurement on %s (%d vCPU): %.1f MB/s written and %.1f MB/s served per broker, scaled by vCPU to other types",
			s.cal.InstanceType, s.cal.VCPU, s.cal.writeMBpsPerBroker(), s.cal.readMBpsPerBroker()))
	}
	return p
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }
