package run

import (
	"testing"
	"time"
)

// The history header records the cluster's high-watermark checkpoint
// interval, so the checker excuses a restarted Kafka replica's older
// checkpoint and holds the reference broker to its 100 ms.
func TestHWCheckpointByCluster(t *testing.T) {
	cases := []struct {
		c    ClusterConfig
		want time.Duration
	}{
		{ClusterConfig{Impl: ImplReference}, 100 * time.Millisecond},
		{ClusterConfig{Impl: ImplContainer}, 100 * time.Millisecond},
		{ClusterConfig{Impl: ImplKfake}, 100 * time.Millisecond},
		{ClusterConfig{Impl: ImplKafka}, 5 * time.Second},
		{ClusterConfig{Impl: ImplContainerKafka}, 5 * time.Second},
		{ClusterConfig{Impl: ImplKafka, Set: map[string]string{"replica.high.watermark.checkpoint.interval.ms": "20000"}}, 20 * time.Second},
		{ClusterConfig{Impl: ImplKafka, Set: map[string]string{"replica.high.watermark.checkpoint.interval.ms": "often"}}, 5 * time.Second},
	}
	for _, c := range cases {
		if got := hwCheckpoint(c.c); got != c.want {
			t.Errorf("%s: %v, want %v", c.c, got, c.want)
		}
	}
}
