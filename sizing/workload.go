package sizing

import (
	"bytes"
	"errors"
	"fmt"
	"math"

	"go.yaml.in/yaml/v4"
)

// ErrWorkload marks a workload that cannot be sized as given.
var ErrWorkload = errors.New("sizing: bad workload")

// Workload is what the cluster must carry. Throughputs are MB/s with
// MB = 2^20 bytes; percentages are 0–100 as in the MSK spreadsheet.
//
// A YAML workload file is applied on top of ExampleWorkload: keys it leaves
// out keep the published example's values, so a file may say only
// `ingestMBps: 200`.
type Workload struct {
	// IngestMBps is the average producer rate into the cluster (before
	// replication). Storage and costs use it.
	IngestMBps float64 `yaml:"ingestMBps" json:"ingestMBps"`
	// IngestPeakMBps is the rate the brokers must sustain; 0 means the
	// average. Capacity checks use it.
	IngestPeakMBps float64 `yaml:"ingestPeakMBps" json:"ingestPeakMBps"`
	// DataOutMBps is the total consumer read rate at the average ingest; 0
	// means ConsumerGroups × IngestMBps.
	DataOutMBps float64 `yaml:"dataOutMBps" json:"dataOutMBps"`
	// ConsumerGroups reading the whole stream; used only when DataOutMBps is 0.
	ConsumerGroups int `yaml:"consumerGroups" json:"consumerGroups"`

	ReplicationFactor int `yaml:"replicationFactor" json:"replicationFactor"`
	// RetentionHours is the full retention (local + tiered).
	RetentionHours float64 `yaml:"retentionHours" json:"retentionHours"`
	TieredStorage  bool    `yaml:"tieredStorage" json:"tieredStorage"`
	// LocalRetentionHours is kept on broker disks when TieredStorage is on.
	LocalRetentionHours float64 `yaml:"localRetentionHours" json:"localRetentionHours"`
	// TieredReadPercent of the data out is read back from tiered storage.
	TieredReadPercent float64 `yaml:"tieredReadPercent" json:"tieredReadPercent"`

	AvailabilityZones int `yaml:"availabilityZones" json:"availabilityZones"`
	// NearestReplicaFetching (KIP-392) lets consumers read in their own AZ,
	// so consumer traffic does not cross AZs.
	NearestReplicaFetching bool `yaml:"nearestReplicaFetching" json:"nearestReplicaFetching"`
	// LaggingConsumersPercent of the data out is read from disk rather than
	// the page cache.
	LaggingConsumersPercent float64 `yaml:"laggingConsumersPercent" json:"laggingConsumersPercent"`
	EncryptionInTransit     bool    `yaml:"encryptionInTransit" json:"encryptionInTransit"`

	// SafetyFactor multiplies every throughput and memory load (1 = none).
	SafetyFactor float64 `yaml:"safetyFactor" json:"safetyFactor"`
	// DiskUtilisationPercent is how full the broker volumes may get.
	DiskUtilisationPercent float64 `yaml:"diskUtilisationPercent" json:"diskUtilisationPercent"`
	// UtilisationPercent caps storage throughput, EBS and EC2 network and page
	// cache use as a share of capacity (AWS: about 80 %).
	UtilisationPercent float64 `yaml:"utilisationPercent" json:"utilisationPercent"`
	// CPUUtilisationPercent caps CPU (AWS: keep it below 60 %).
	CPUUtilisationPercent float64 `yaml:"cpuUtilisationPercent" json:"cpuUtilisationPercent"`
	// RAMCachedSeconds of the replicated ingest each broker keeps in the
	// page cache, so that consumers and followers near the tail never hit
	// the disk.
	RAMCachedSeconds float64 `yaml:"ramCachedSeconds" json:"ramCachedSeconds"`
	// BrokersDownTolerated is how many brokers may be out (MSK patches one
	// broker at a time; a broker may fail) while the rest still carry the
	// peak within the utilisation targets.
	BrokersDownTolerated int `yaml:"brokersDownTolerated" json:"brokersDownTolerated"`
	// MaxBrokers is the cluster quota (MSK default 30).
	MaxBrokers int `yaml:"maxBrokers" json:"maxBrokers"`

	// Partitions of the topic; 0 derives them from PartitionMBps and
	// ConsumerParallelism.
	Partitions int `yaml:"partitions" json:"partitions"`
	// PartitionMBps is the throughput one partition sustains; 0 takes the
	// calibration's or the catalogue's default.
	PartitionMBps float64 `yaml:"partitionMBps" json:"partitionMBps"`
	// ConsumerParallelism is the most consumers one group runs in parallel;
	// each needs a partition.
	ConsumerParallelism int `yaml:"consumerParallelism" json:"consumerParallelism"`
}

// ExampleWorkload is the published MSK sizing spreadsheet example
// (shared/SIZING.md), and the defaults for anything a workload leaves out.
// Its 66 MB/s of data out is one consumer group, so that a workload that
// changes only the ingest keeps one group reading it.
func ExampleWorkload() Workload {
	return Workload{
		IngestMBps:              66,
		ConsumerGroups:          1,
		ReplicationFactor:       3,
		RetentionHours:          72,
		TieredStorage:           true,
		LocalRetentionHours:     2,
		TieredReadPercent:       10,
		AvailabilityZones:       3,
		NearestReplicaFetching:  true,
		LaggingConsumersPercent: 5,
		EncryptionInTransit:     true,
		SafetyFactor:            1,
		DiskUtilisationPercent:  80,
		UtilisationPercent:      80,
		CPUUtilisationPercent:   60,
		RAMCachedSeconds:        90,
		BrokersDownTolerated:    1,
		MaxBrokers:              30,
	}
}

// ParseWorkload reads a YAML workload on top of ExampleWorkload. Unknown
// keys are errors.
func ParseWorkload(data []byte) (Workload, error) {
	w := ExampleWorkload()
	if onlyComments(data) {
		// yaml.Load refuses a stream with no document; an empty workload
		// file simply changes nothing.
		return w, nil
	}
	if err := yaml.Load(data, &w, yaml.WithKnownFields()); err != nil {
		return Workload{}, fmt.Errorf("%w: %v", ErrWorkload, err)
	}
	return w, w.Validate()
}

func onlyComments(data []byte) bool {
	for line := range bytes.Lines(data) {
		line = bytes.TrimSpace(line)
		if len(line) > 0 && line[0] != '#' && !bytes.Equal(line, []byte("---")) {
			return false
		}
	}
	return true
}

// YAML renders the workload in the format ParseWorkload reads.
func (w Workload) YAML() ([]byte, error) { return yaml.Marshal(w) }

// Validate rejects workloads the arithmetic cannot handle. It never panics.
func (w Workload) Validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrWorkload}, a...)...)
	}
	finite := []struct {
		name string
		v    float64
	}{
		{"ingestMBps", w.IngestMBps}, {"ingestPeakMBps", w.IngestPeakMBps}, {"dataOutMBps", w.DataOutMBps},
		{"retentionHours", w.RetentionHours}, {"localRetentionHours", w.LocalRetentionHours},
		{"tieredReadPercent", w.TieredReadPercent}, {"laggingConsumersPercent", w.LaggingConsumersPercent},
		{"safetyFactor", w.SafetyFactor}, {"diskUtilisationPercent", w.DiskUtilisationPercent},
		{"utilisationPercent", w.UtilisationPercent}, {"cpuUtilisationPercent", w.CPUUtilisationPercent},
		{"ramCachedSeconds", w.RAMCachedSeconds}, {"partitionMBps", w.PartitionMBps},
	}
	for _, f := range finite {
		if math.IsNaN(f.v) || math.IsInf(f.v, 0) || f.v < 0 {
			return bad("%s must be a finite number >= 0, got %v", f.name, f.v)
		}
	}
	switch {
	case w.IngestMBps <= 0:
		return bad("ingestMBps must be > 0")
	case w.IngestPeakMBps != 0 && w.IngestPeakMBps < w.IngestMBps:
		return bad("ingestPeakMBps %v is below the average %v", w.IngestPeakMBps, w.IngestMBps)
	case w.DataOutMBps == 0 && w.ConsumerGroups < 0:
		return bad("consumerGroups must be >= 0")
	case w.ReplicationFactor < 1:
		return bad("replicationFactor must be >= 1")
	case w.RetentionHours <= 0:
		return bad("retentionHours must be > 0")
	case w.TieredStorage && (w.LocalRetentionHours <= 0 || w.LocalRetentionHours > w.RetentionHours):
		return bad("localRetentionHours must be in (0, retentionHours] with tiered storage")
	case w.AvailabilityZones < 1:
		return bad("availabilityZones must be >= 1")
	case w.TieredReadPercent > 100 || w.LaggingConsumersPercent > 100:
		return bad("percentages must be <= 100")
	case w.SafetyFactor < 1:
		return bad("safetyFactor must be >= 1")
	case w.DiskUtilisationPercent <= 0 || w.DiskUtilisationPercent > 100,
		w.UtilisationPercent <= 0 || w.UtilisationPercent > 100,
		w.CPUUtilisationPercent <= 0 || w.CPUUtilisationPercent > 100:
		return bad("utilisation targets must be in (0, 100]")
	case w.BrokersDownTolerated < 0:
		return bad("brokersDownTolerated must be >= 0")
	case w.MaxBrokers < 1:
		return bad("maxBrokers must be >= 1")
	case w.Partitions < 0 || w.ConsumerParallelism < 0:
		return bad("partitions and consumerParallelism must be >= 0")
	}
	return nil
}

// peakMBps is the ingest the capacity checks use.
func (w Workload) peakMBps() float64 { return math.Max(w.IngestPeakMBps, w.IngestMBps) }

// dataOutMBps is the average consumer rate.
func (w Workload) dataOutMBps() float64 {
	if w.DataOutMBps > 0 {
		return w.DataOutMBps
	}
	return float64(w.ConsumerGroups) * w.IngestMBps
}

// localRetentionHours is what broker disks hold.
func (w Workload) localRetentionHours() float64 {
	if w.TieredStorage {
		return w.LocalRetentionHours
	}
	return w.RetentionHours
}
