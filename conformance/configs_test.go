package conformance

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// wantConfig checks one config entry's value and source.
func wantConfig(t testing.TB, rc kadm.ResourceConfig, key, value string, source kmsg.ConfigSource) {
	t.Helper()
	for _, c := range rc.Configs {
		if c.Key != key {
			continue
		}
		if c.MaybeValue() != value || c.Source != source {
			t.Errorf("%s: %s=%q (%v), want %q (%v)", rc.Name, key, c.MaybeValue(), c.Source, value, source)
		}
		return
	}
	t.Errorf("%s: config %s not described", rc.Name, key)
}

// wantNotDynamic checks that key has no topic override any more.
func wantNotDynamic(t testing.TB, rc kadm.ResourceConfig, key string) {
	t.Helper()
	for _, c := range rc.Configs {
		if c.Key == key {
			if c.Source == kmsg.ConfigSourceDynamicTopicConfig {
				t.Errorf("%s: %s=%q still a topic override", rc.Name, key, c.MaybeValue())
			}
			return
		}
	}
	t.Errorf("%s: config %s not described", rc.Name, key)
}

func describeTopic(t testing.TB, ctx context.Context, adm *kadm.Client, topic string) kadm.ResourceConfig {
	t.Helper()
	rcs, err := adm.DescribeTopicConfigs(ctx, topic)
	if err != nil {
		t.Fatalf("describe configs: %v", err)
	}
	rc, err := rcs.On(topic, nil)
	if err != nil {
		t.Fatalf("describe configs: %v", err)
	}
	if rc.Err != nil {
		t.Fatalf("describe configs of %s: %v", topic, rc.Err)
	}
	return rc
}

// alterErr folds a single-resource alter answer into one error.
func alterErr(resps kadm.AlterConfigsResponses, err error) error {
	if err != nil {
		return err
	}
	if len(resps) != 1 {
		return fmt.Errorf("alter configs: %d responses, want 1", len(resps))
	}
	return resps[0].Err
}

// TestTopicConfigSources: with broker-level settings in server.properties,
// a topic reports them as STATIC_BROKER_CONFIG, untouched settings as
// DEFAULT_CONFIG with Kafka's defaults, overrides as DYNAMIC_TOPIC_CONFIG;
// deleting an override falls back to the broker's value.
func TestTopicConfigSources(t *testing.T) {
	tg := newTarget(t, map[string]string{
		"log.retention.ms":  "7200000",
		"message.max.bytes": "2000000",
	})
	ctx := testCtx(t, 30*time.Second)
	adm := tg.admin()
	topic := tg.createTopic(ctx, 1, nil)

	rc := describeTopic(t, ctx, adm, topic)
	wantConfig(t, rc, "retention.ms", "7200000", kmsg.ConfigSourceStaticBrokerConfig)
	wantConfig(t, rc, "max.message.bytes", "2000000", kmsg.ConfigSourceStaticBrokerConfig)
	wantConfig(t, rc, "segment.bytes", "1073741824", kmsg.ConfigSourceDefaultConfig)
	wantConfig(t, rc, "cleanup.policy", "delete", kmsg.ConfigSourceDefaultConfig)
	wantConfig(t, rc, "retention.bytes", "-1", kmsg.ConfigSourceDefaultConfig)
	wantConfig(t, rc, "compression.type", "producer", kmsg.ConfigSourceDefaultConfig)

	err := alterErr(adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{
		{Op: kadm.SetConfig, Name: "retention.ms", Value: strp("1000000")},
	}, topic))
	if err != nil {
		t.Fatalf("incremental set: %v", err)
	}
	rc = describeTopic(t, ctx, adm, topic)
	wantConfig(t, rc, "retention.ms", "1000000", kmsg.ConfigSourceDynamicTopicConfig)
	wantConfig(t, rc, "max.message.bytes", "2000000", kmsg.ConfigSourceStaticBrokerConfig)

	err = alterErr(adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{
		{Op: kadm.DeleteConfig, Name: "retention.ms"},
	}, topic))
	if err != nil {
		t.Fatalf("incremental delete: %v", err)
	}
	rc = describeTopic(t, ctx, adm, topic)
	wantConfig(t, rc, "retention.ms", "7200000", kmsg.ConfigSourceStaticBrokerConfig)
}

// TestTopicConfigAlter: IncrementalAlterConfigs changes only the named
// keys; AlterConfigs replaces the whole override set; validate-only changes
// nothing; bad keys, values and topics get Kafka's error codes.
func TestTopicConfigAlter(t *testing.T) {
	tg := newTarget(t, nil)
	ctx := testCtx(t, 30*time.Second)
	adm := tg.admin()
	topic := tg.createTopic(ctx, 1, map[string]*string{"retention.bytes": strp("10000000")})

	rc := describeTopic(t, ctx, adm, topic)
	wantConfig(t, rc, "retention.bytes", "10000000", kmsg.ConfigSourceDynamicTopicConfig)
	wantNotDynamic(t, rc, "retention.ms")

	// Incremental: adds two overrides, keeps the existing one.
	err := alterErr(adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{
		{Op: kadm.SetConfig, Name: "retention.ms", Value: strp("1000000")},
		{Op: kadm.SetConfig, Name: "max.message.bytes", Value: strp("5000")},
	}, topic))
	if err != nil {
		t.Fatalf("incremental set: %v", err)
	}
	rc = describeTopic(t, ctx, adm, topic)
	wantConfig(t, rc, "retention.ms", "1000000", kmsg.ConfigSourceDynamicTopicConfig)
	wantConfig(t, rc, "max.message.bytes", "5000", kmsg.ConfigSourceDynamicTopicConfig)
	wantConfig(t, rc, "retention.bytes", "10000000", kmsg.ConfigSourceDynamicTopicConfig)

	// Validate-only: accepted, not applied.
	err = alterErr(adm.ValidateAlterTopicConfigs(ctx, []kadm.AlterConfig{
		{Op: kadm.SetConfig, Name: "retention.ms", Value: strp("5")},
	}, topic))
	if err != nil {
		t.Fatalf("validate-only incremental set: %v", err)
	}
	wantConfig(t, describeTopic(t, ctx, adm, topic), "retention.ms", "1000000", kmsg.ConfigSourceDynamicTopicConfig)

	// Non-incremental AlterConfigs: the request is the whole new override
	// set, so the three overrides above disappear.
	err = alterErr(adm.AlterTopicConfigsState(ctx, []kadm.AlterConfig{
		{Name: "segment.ms", Value: strp("3600000")},
	}, topic))
	if err != nil {
		t.Fatalf("alter configs: %v", err)
	}
	rc = describeTopic(t, ctx, adm, topic)
	wantConfig(t, rc, "segment.ms", "3600000", kmsg.ConfigSourceDynamicTopicConfig)
	for _, k := range []string{"retention.ms", "max.message.bytes", "retention.bytes"} {
		wantNotDynamic(t, rc, k)
	}

	// Incremental delete of an override.
	err = alterErr(adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.DeleteConfig, Name: "segment.ms"}}, topic))
	if err != nil {
		t.Fatalf("incremental delete: %v", err)
	}
	wantNotDynamic(t, describeTopic(t, ctx, adm, topic), "segment.ms")

	errCases := []struct {
		name  string
		topic string
		cfg   kadm.AlterConfig
		want  error
	}{
		{"bad value", topic, kadm.AlterConfig{Name: "retention.ms", Value: strp("forever")}, kerr.InvalidConfig},
		{"unknown key", topic, kadm.AlterConfig{Name: "no.such.config", Value: strp("1")}, kerr.InvalidConfig},
		{"unknown topic", uniqueName(t, "missing"), kadm.AlterConfig{Name: "retention.ms", Value: strp("1000")}, kerr.UnknownTopicOrPartition},
	}
	for _, tc := range errCases {
		err := alterErr(adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{tc.cfg}, tc.topic))
		if !errors.Is(err, tc.want) {
			t.Errorf("incremental alter, %s: %v, want %v", tc.name, err, tc.want)
		}
		err = alterErr(adm.AlterTopicConfigsState(ctx, []kadm.AlterConfig{tc.cfg}, tc.topic))
		if !errors.Is(err, tc.want) {
			t.Errorf("alter, %s: %v, want %v", tc.name, err, tc.want)
		}
	}
	// A rejected alteration changed nothing.
	wantNotDynamic(t, describeTopic(t, ctx, adm, topic), "retention.ms")

	rcs, err := adm.DescribeTopicConfigs(ctx, uniqueName(t, "missing"))
	if err == nil && len(rcs) == 1 {
		err = rcs[0].Err
	}
	if !errors.Is(err, kerr.UnknownTopicOrPartition) {
		t.Errorf("describe configs of unknown topic: %v, want UNKNOWN_TOPIC_OR_PARTITION", err)
	}
}
