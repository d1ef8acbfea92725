package bench

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"time"
)

// CalibrationSchema names the calibration layout `highwater size
// --calibrate` reads (documented in package sizing). bench writes it without
// importing sizing, which sits above bench.
const CalibrationSchema = "highwater.sizing.calibration/v1"

// Calibration is a capacity search's result in sizing's calibration
// schema, field for field: sizing rejects unknown fields, so nothing may be
// added here that sizing does not read.
type Calibration struct {
	Schema            string  `json:"schema"`
	InstanceType      string  `json:"instanceType"`
	VCPU              int     `json:"vcpu"`
	Brokers           int     `json:"brokers"`
	ReplicationFactor int     `json:"replicationFactor"`
	ProduceMBps       float64 `json:"produceMBps"`
	ConsumeMBps       float64 `json:"consumeMBps"`
	Partitions        int     `json:"partitions"`
	MeasuredAt        string  `json:"measuredAt,omitempty"`
	Source            string  `json:"source,omitempty"`
}

// Calibration describes r for sizing: instanceType is a label (a
// catalogue name, or "local"), vcpu the cores per broker of the machine the
// brokers ran on, w the workload searched with, source how it was run.
func (r CapacityResult) Calibration(instanceType string, vcpu int, w Workload, measuredAt time.Time, source string) (Calibration, error) {
	if !r.Found || r.MBPerSec <= 0 {
		return Calibration{}, fmt.Errorf("bench: no sustainable rate to calibrate from (%s)", r.LimitedBy)
	}
	return Calibration{
		Schema:            CalibrationSchema,
		InstanceType:      instanceType,
		VCPU:              vcpu,
		Brokers:           max(r.Brokers, 1),
		ReplicationFactor: int(cmp.Or(r.ReplicationFactor, w.ReplicationFactor, 1)),
		ProduceMBps:       r.MBPerSec,
		ConsumeMBps:       r.ConsumeMBPerSec,
		Partitions:        int(w.Partitions),
		MeasuredAt:        measuredAt.UTC().Format(time.RFC3339),
		Source: fmt.Sprintf("%s: capacity search against %s, %d B records, acks=%s, p99 ≤ %v, sent/requested ≥ %v, %d probes",
			source, r.Target, w.RecordBytes, w.Acks, r.Config.P99Bound, r.Config.MinSentRatio, len(r.Probes)),
	}, nil
}

// WriteJSON writes c indented.
func (c Calibration) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(c)
}
