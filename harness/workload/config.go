package workload

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// ErrBadConfig wraps every Validate failure.
var ErrBadConfig = errors.New("workload: bad config")

// Config holds the workload's knobs.
type Config struct {
	// Bootstrap is a comma-separated list of client addresses.
	Bootstrap string
	Topic     string
	// Partitions of the topic; ReplicationFactor and MinInsyncReplicas
	// are set at creation (0 means the broker's default).
	Partitions        int
	ReplicationFactor int
	MinInsyncReplicas int

	// Acks is the producers' acknowledgement level: "all" (the default
	// when empty: idempotent, franz-go's default) or "1" (leader only,
	// idempotence off — an unsafe setting a run may want to show losing
	// acknowledged writes).
	Acks string

	Producers       int
	AssignConsumers int
	GroupConsumers  int
	Group           string
	// Readers issue explicit-offset fetches and list-offsets.
	Readers int

	// SendRatePerSec is the total send rate over all producers.
	SendRatePerSec float64
	// ReadRatePerSec is the total rate of explicit reads over all readers.
	ReadRatePerSec float64
	// RecordBytes pads each record to about this size (in a header, so the
	// recorded value stays short).
	RecordBytes int
	Duration    time.Duration
	// SendTimeout bounds one send (franz-go's record delivery timeout);
	// after it the send is info.
	SendTimeout time.Duration
	// ReadTimeout bounds one explicit read.
	ReadTimeout time.Duration
	// PollTimeout bounds one consumer poll.
	PollTimeout time.Duration

	Seed   int64
	Logger *slog.Logger
}

// DefaultConfig is a small workload that two cores sustain next to a
// 3-node cluster.
func DefaultConfig(bootstrap string) Config {
	return Config{
		Bootstrap:       bootstrap,
		Topic:           "highwater-queue",
		Partitions:      4,
		Producers:       4,
		AssignConsumers: 1,
		GroupConsumers:  2,
		Group:           "highwater-group",
		Readers:         1,
		SendRatePerSec:  200,
		ReadRatePerSec:  20,
		RecordBytes:     100,
		Duration:        30 * time.Second,
		SendTimeout:     10 * time.Second,
		ReadTimeout:     5 * time.Second,
		PollTimeout:     time.Second,
	}
}

func (c Config) seeds() []string {
	var out []string
	for _, s := range strings.Split(c.Bootstrap, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// leaderAcks reports whether producers use acks=1.
func (c Config) leaderAcks() bool { return c.Acks == "1" }

func (c Config) logger() *slog.Logger {
	if c.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Logger
}

// Validate reports the first problem in c, wrapping ErrBadConfig.
func (c Config) Validate() error {
	switch {
	case len(c.seeds()) == 0:
		return fmt.Errorf("%w: no bootstrap address", ErrBadConfig)
	case c.Topic == "":
		return fmt.Errorf("%w: no topic", ErrBadConfig)
	case c.Partitions < 1 || c.Partitions > 10000:
		return fmt.Errorf("%w: %d partitions", ErrBadConfig, c.Partitions)
	case c.ReplicationFactor < 0 || c.MinInsyncReplicas < 0:
		return fmt.Errorf("%w: negative replication settings", ErrBadConfig)
	case c.Acks != "" && c.Acks != "all" && c.Acks != "-1" && c.Acks != "1":
		return fmt.Errorf("%w: acks %q (want all or 1)", ErrBadConfig, c.Acks)
	case c.Producers < 0 || c.AssignConsumers < 0 || c.GroupConsumers < 0 || c.Readers < 0:
		return fmt.Errorf("%w: negative client count", ErrBadConfig)
	case c.Producers > 0 && c.SendRatePerSec <= 0:
		return fmt.Errorf("%w: send rate %v with %d producers", ErrBadConfig, c.SendRatePerSec, c.Producers)
	case c.Readers > 0 && c.ReadRatePerSec <= 0:
		return fmt.Errorf("%w: read rate %v with %d readers", ErrBadConfig, c.ReadRatePerSec, c.Readers)
	case c.GroupConsumers > 0 && c.Group == "":
		return fmt.Errorf("%w: group consumers need a group", ErrBadConfig)
	case c.RecordBytes < 0 || c.RecordBytes > 1<<20:
		return fmt.Errorf("%w: record size %d bytes", ErrBadConfig, c.RecordBytes)
	case c.Duration <= 0 || c.SendTimeout <= 0 || c.ReadTimeout <= 0 || c.PollTimeout <= 0:
		return fmt.Errorf("%w: durations and timeouts must be positive", ErrBadConfig)
	}
	return nil
}

// TransactionalIDs are the transactional ids the txn (kind "txn") or eos
// (kind "eos") workload of c uses, one per producer slot — what the
// nemesis aims its coordinator faults at. Other kinds use none.
func (c Config) TransactionalIDs(kind string) []string {
	prefix := map[string]string{"txn": "highwater-txn-", "eos": "highwater-eos-"}[kind]
	if prefix == "" {
		return nil
	}
	ids := make([]string, c.Producers)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s%d", prefix, i)
	}
	return ids
}
