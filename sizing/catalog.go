package sizing

import (
	_ "embed"
	"errors"
	"fmt"
	"sort"

	"go.yaml.in/yaml/v4"
)

//go:embed catalog.yaml
var defaultCatalogYAML []byte

// ErrCatalog marks a catalogue that cannot be used (bad YAML, missing or
// impossible figures).
var ErrCatalog = errors.New("sizing: bad catalogue")

// Catalog is the editable list of broker types with their capacity limits and
// prices. The default is catalog.yaml, embedded; DefaultCatalogYAML returns
// its text so a user can start a copy from it.
type Catalog struct {
	PricesDate    string         `yaml:"pricesDate" json:"pricesDate"`
	Region        string         `yaml:"region" json:"region"`
	HoursPerMonth float64        `yaml:"hoursPerMonth" json:"hoursPerMonth"`
	Prices        Prices         `yaml:"prices" json:"prices"`
	Assumptions   Assumptions    `yaml:"assumptions" json:"assumptions"`
	Types         []InstanceType `yaml:"types" json:"types"`
}

// Prices are the per-unit prices other than broker-hours.
type Prices struct {
	MSKStoragePerGBMonth float64            `yaml:"mskStoragePerGBMonth" json:"mskStoragePerGBMonth"`
	MSKTieredPerGBMonth  float64            `yaml:"mskTieredPerGBMonth" json:"mskTieredPerGBMonth"`
	CrossAZPerGB         float64            `yaml:"crossAZPerGB" json:"crossAZPerGB"`
	EBSPerGBMonth        map[string]float64 `yaml:"ebsPerGBMonth" json:"ebsPerGBMonth"`
	SelfManagedVolume    string             `yaml:"selfManagedVolume" json:"selfManagedVolume"`
}

// Assumptions are the figures that are not published anywhere and that a
// measurement (Calibration) should replace.
type Assumptions struct {
	CPUMBpsPerVCPU       float64 `yaml:"cpuMBpsPerVCPU" json:"cpuMBpsPerVCPU"`
	TLSCPUFactor         float64 `yaml:"tlsCPUFactor" json:"tlsCPUFactor"`
	MaxVolumeGB          float64 `yaml:"maxVolumeGB" json:"maxVolumeGB"`
	DefaultPartitionMBps float64 `yaml:"defaultPartitionMBps" json:"defaultPartitionMBps"`
}

// InstanceType is one broker type.
type InstanceType struct {
	Name                string  `yaml:"name" json:"name"`
	EC2Type             string  `yaml:"ec2Type" json:"ec2Type"`
	VCPU                int     `yaml:"vcpu" json:"vcpu"`
	MemoryGiB           float64 `yaml:"memoryGiB" json:"memoryGiB"`
	HeapGiB             float64 `yaml:"heapGiB" json:"heapGiB"`
	OSReservedGiB       float64 `yaml:"osReservedGiB" json:"osReservedGiB"`
	NetworkBaselineGbps float64 `yaml:"networkBaselineGbps" json:"networkBaselineGbps"`
	NetworkBurstGbps    float64 `yaml:"networkBurstGbps" json:"networkBurstGbps"`
	EBSBaselineMbps     float64 `yaml:"ebsBaselineMbps" json:"ebsBaselineMbps"`
	StorageMaxMBps      float64 `yaml:"storageMaxMBps" json:"storageMaxMBps"`
	MaxPartitions       int     `yaml:"maxPartitions" json:"maxPartitions"`
	MSKPerHour          float64 `yaml:"mskPerHour" json:"mskPerHour"`
	EC2PerHour          float64 `yaml:"ec2PerHour" json:"ec2PerHour"`
}

// bytesPerMB is the spreadsheet's MB (and GB = 1024 MB).
const bytesPerMB = 1024 * 1024

// gbpsToMBps converts AWS's decimal gigabits per second to MB/s of 2^20
// bytes.
func gbpsToMBps(gbps float64) float64 { return gbps * 1e9 / 8 / bytesPerMB }

// NetworkMBps is the sustained EC2 network bandwidth, each direction.
func (t InstanceType) NetworkMBps() float64 { return gbpsToMBps(t.NetworkBaselineGbps) }

// EBSMBps is the sustained EC2-to-EBS bandwidth.
func (t InstanceType) EBSMBps() float64 { return gbpsToMBps(t.EBSBaselineMbps / 1000) }

// PageCacheMB is the memory left for the page cache after heap and OS.
func (t InstanceType) PageCacheMB() float64 {
	free := t.MemoryGiB - t.HeapGiB - t.OSReservedGiB
	if free < 0 {
		return 0
	}
	return free * 1024
}

// smaller orders types for tie-breaking: fewer vCPUs, then less memory,
// then the cheaper broker-hour, then the name (so the order is total).
func (t InstanceType) smaller(o InstanceType) bool {
	if t.VCPU != o.VCPU {
		return t.VCPU < o.VCPU
	}
	if t.MemoryGiB != o.MemoryGiB {
		return t.MemoryGiB < o.MemoryGiB
	}
	if t.MSKPerHour != o.MSKPerHour {
		return t.MSKPerHour < o.MSKPerHour
	}
	return t.Name < o.Name
}

// DefaultCatalogYAML is the embedded catalogue's text, comments included.
func DefaultCatalogYAML() []byte { return append([]byte(nil), defaultCatalogYAML...) }

// DefaultCatalog parses the embedded catalogue. It cannot fail for a
// released binary; the error is kept for the tests that guard that.
func DefaultCatalog() (Catalog, error) { return ParseCatalog(defaultCatalogYAML) }

// ParseCatalog reads a catalogue in catalog.yaml's format. Unknown keys are
// errors (a typo in a price must not silently keep the default).
func ParseCatalog(data []byte) (Catalog, error) {
	var c Catalog
	if err := yaml.Load(data, &c, yaml.WithKnownFields()); err != nil {
		return Catalog{}, fmt.Errorf("%w: %v", ErrCatalog, err)
	}
	if err := c.Validate(); err != nil {
		return Catalog{}, err
	}
	return c, nil
}

// Validate checks that every figure the sizer divides by or multiplies with
// is present and sensible.
func (c Catalog) Validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrCatalog}, a...)...)
	}
	if c.HoursPerMonth <= 0 {
		return bad("hoursPerMonth must be > 0")
	}
	if len(c.Types) == 0 {
		return bad("no types")
	}
	if _, ok := c.Prices.EBSPerGBMonth[c.Prices.SelfManagedVolume]; !ok {
		return bad("prices.selfManagedVolume %q has no ebsPerGBMonth price", c.Prices.SelfManagedVolume)
	}
	if c.Prices.MSKStoragePerGBMonth < 0 || c.Prices.MSKTieredPerGBMonth < 0 || c.Prices.CrossAZPerGB < 0 {
		return bad("negative price")
	}
	a := c.Assumptions
	if a.CPUMBpsPerVCPU <= 0 || a.TLSCPUFactor < 1 || a.MaxVolumeGB <= 0 || a.DefaultPartitionMBps <= 0 {
		return bad("assumptions: cpuMBpsPerVCPU, maxVolumeGB, defaultPartitionMBps must be > 0 and tlsCPUFactor >= 1")
	}
	seen := map[string]bool{}
	for _, t := range c.Types {
		if t.Name == "" || seen[t.Name] {
			return bad("type name %q empty or repeated", t.Name)
		}
		seen[t.Name] = true
		if t.VCPU <= 0 || t.MemoryGiB <= 0 || t.NetworkBaselineGbps <= 0 || t.EBSBaselineMbps <= 0 ||
			t.StorageMaxMBps <= 0 || t.MaxPartitions <= 0 || t.MSKPerHour < 0 || t.EC2PerHour < 0 ||
			t.HeapGiB < 0 || t.OSReservedGiB < 0 {
			return bad("type %s: vcpu, memoryGiB, networkBaselineGbps, ebsBaselineMbps, storageMaxMBps, maxPartitions must be > 0 and prices, heap, OS reserve >= 0", t.Name)
		}
	}
	return nil
}

// Type finds a type by name.
func (c Catalog) Type(name string) (InstanceType, bool) {
	for _, t := range c.Types {
		if t.Name == name {
			return t, true
		}
	}
	return InstanceType{}, false
}

// sortedTypes returns the types smallest first.
func (c Catalog) sortedTypes() []InstanceType {
	ts := append([]InstanceType(nil), c.Types...)
	sort.SliceStable(ts, func(i, j int) bool { return ts[i].smaller(ts[j]) })
	return ts
}
