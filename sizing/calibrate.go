package sizing

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
)

// CalibrationSchema is the value of Calibration.Schema this package reads.
const CalibrationSchema = "highwater.sizing.calibration/v1"

// ErrCalibration marks a calibration file that cannot be used.
var ErrCalibration = errors.New("sizing: bad calibration")

// Calibration is a measured capacity (from `highwater bench`'s capacity
// search) that replaces the catalogue's CPU assumption. The JSON schema is
// documented in doc.go.
type Calibration struct {
	Schema string `json:"schema"`
	// InstanceType the measurement ran on: a catalogue name, or a free label
	// such as "local" with VCPU set.
	InstanceType string `json:"instanceType"`
	// VCPU of the measured machine (per broker); taken from the catalogue
	// when InstanceType names a catalogue type and this is 0.
	VCPU int `json:"vcpu"`
	// Brokers and ReplicationFactor of the measured cluster (0 means 1).
	Brokers           int `json:"brokers"`
	ReplicationFactor int `json:"replicationFactor"`
	// ProduceMBps is the sustainable cluster ingest found (MB = 2^20 bytes),
	// before replication.
	ProduceMBps float64 `json:"produceMBps"`
	// ConsumeMBps is the sustainable cluster consume rate found; 0 = not
	// measured (egress is then left to the network limits).
	ConsumeMBps float64 `json:"consumeMBps"`
	// Partitions of the topic the measurement used; with ProduceMBps it gives
	// a measured per-partition throughput.
	Partitions int `json:"partitions"`
	// MeasuredAt and Source are for the report only.
	MeasuredAt string `json:"measuredAt,omitempty"`
	Source     string `json:"source,omitempty"`
}

// ParseCalibration reads a calibration JSON document. Unknown fields are
// errors so that a renamed field in bench's output is noticed.
func ParseCalibration(data []byte) (Calibration, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var c Calibration
	if err := dec.Decode(&c); err != nil {
		return Calibration{}, fmt.Errorf("%w: %v", ErrCalibration, err)
	}
	return c, nil
}

// resolve fills defaults from the catalogue and validates.
func (c Calibration) resolve(cat Catalog) (Calibration, error) {
	bad := func(format string, a ...any) (Calibration, error) {
		return Calibration{}, fmt.Errorf("%w: "+format, append([]any{ErrCalibration}, a...)...)
	}
	if c.Schema != "" && c.Schema != CalibrationSchema {
		return bad("schema %q, want %q", c.Schema, CalibrationSchema)
	}
	if c.VCPU == 0 {
		if t, ok := cat.Type(c.InstanceType); ok {
			c.VCPU = t.VCPU
		}
	}
	if c.Brokers == 0 {
		c.Brokers = 1
	}
	if c.ReplicationFactor == 0 {
		c.ReplicationFactor = 1
	}
	for _, v := range []float64{c.ProduceMBps, c.ConsumeMBps} {
		if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			return bad("throughputs must be finite and >= 0")
		}
	}
	switch {
	case c.ProduceMBps <= 0:
		return bad("produceMBps must be > 0")
	case c.VCPU <= 0:
		return bad("vcpu must be > 0 (or instanceType must name a catalogue type)")
	case c.Brokers < 1 || c.ReplicationFactor < 1 || c.ReplicationFactor > c.Brokers:
		return bad("need 1 <= replicationFactor <= brokers")
	case c.Partitions < 0:
		return bad("partitions must be >= 0")
	}
	return c, nil
}

// scale is how the measured per-broker capacity carries over to type t:
// 1 on the measured type, otherwise in proportion to vCPUs (an
// approximation: Kafka's request handling scales with cores until the
// network or disk binds, and those are checked separately).
func (c Calibration) scale(t InstanceType) float64 {
	if t.Name == c.InstanceType {
		return 1
	}
	return float64(t.VCPU) / float64(c.VCPU)
}

// writeMBpsPerBroker is the bytes a measured broker appended per second,
// replicas included.
func (c Calibration) writeMBpsPerBroker() float64 {
	return c.ProduceMBps * float64(c.ReplicationFactor) / float64(c.Brokers)
}

// readMBpsPerBroker is the consumer bytes a measured broker served per
// second.
func (c Calibration) readMBpsPerBroker() float64 {
	return c.ConsumeMBps / float64(c.Brokers)
}

// partitionMBps is the measured per-partition rate (a lower bound on what a
// partition can do), 0 when unknown.
func (c Calibration) partitionMBps() float64 {
	if c.Partitions <= 0 {
		return 0
	}
	return c.ProduceMBps / float64(c.Partitions)
}
