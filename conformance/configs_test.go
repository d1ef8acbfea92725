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

// configCheck inspects a described topic config.
type configCheck func(rc kadm.ResourceConfig) error

// hasConfig: key has value and source.
func hasConfig(key, value string, source kmsg.ConfigSource) configCheck {
	return func(rc kadm.ResourceConfig) error {
		for _, c := range rc.Configs {
			if c.Key == key {
				if c.MaybeValue() != value || c.Source != source {
					return fmt.Errorf("%s=%q (%v), want %q (%v)", key, c.MaybeValue(), c.Source, value, source)
				}
				return nil
			}
		}
		return fmt.Errorf("config %s not described", key)
	}
}

// notDynamic: key has no topic override.
func notDynamic(key string) configCheck {
	return func(rc kadm.ResourceConfig) error {
		for _, c := range rc.Configs {
			if c.Key == key {
				if c.Source == kmsg.ConfigSourceDynamicTopicConfig {
					return fmt.Errorf("%s=%q is still a topic override", key, c.MaybeValue())
				}
				return nil
			}
		}
		return fmt.Errorf("config %s not described", key)
	}
}

// waitConfigs describes topic until every check passes. Kafka applies
// config changes through its controller and serves DescribeConfigs from
// each broker's metadata cache, so a describe right after an alter may
// still show the old state; a single-node broker shows the new one at once.
func waitConfigs(t testing.TB, ctx context.Context, adm *kadm.Client, topic string, checks ...configCheck) {
	t.Helper()
	eventually(t, ctx, "configs of "+topic, func() error {
		rcs, err := adm.DescribeTopicConfigs(ctx, topic)
		if err != nil {
			return err
		}
		rc, err := rcs.On(topic, nil)
		if err != nil {
			return err
		}
		if rc.Err != nil {
			return rc.Err
		}
		var errs []error
		for _, check := range checks {
			if err := check(rc); err != nil {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	})
}

// describeTopic returns the topic's configs once.
func describeTopic(t testing.TB, ctx context.Context, adm *kadm.Client, topic string) kadm.ResourceConfig {
	t.Helper()
	rcs, err := adm.DescribeTopicConfigs(ctx, topic)
	if err != nil {
		t.Fatalf("describe configs: %v", err)
	}
	rc, err := rcs.On(topic, nil)
	if err != nil || rc.Err != nil {
		t.Fatalf("describe configs of %s: %v %v", topic, err, rc.Err)
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

	waitConfigs(t, ctx, adm, topic,
		hasConfig("retention.ms", "7200000", kmsg.ConfigSourceStaticBrokerConfig),
		hasConfig("max.message.bytes", "2000000", kmsg.ConfigSourceStaticBrokerConfig),
		hasConfig("segment.bytes", "1073741824", kmsg.ConfigSourceDefaultConfig),
		hasConfig("cleanup.policy", "delete", kmsg.ConfigSourceDefaultConfig),
		hasConfig("retention.bytes", "-1", kmsg.ConfigSourceDefaultConfig),
		hasConfig("compression.type", "producer", kmsg.ConfigSourceDefaultConfig),
	)

	err := alterErr(adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{
		{Op: kadm.SetConfig, Name: "retention.ms", Value: strp("1000000")},
	}, topic))
	if err != nil {
		t.Fatalf("incremental set: %v", err)
	}
	waitConfigs(t, ctx, adm, topic,
		hasConfig("retention.ms", "1000000", kmsg.ConfigSourceDynamicTopicConfig),
		hasConfig("max.message.bytes", "2000000", kmsg.ConfigSourceStaticBrokerConfig),
	)

	err = alterErr(adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{
		{Op: kadm.DeleteConfig, Name: "retention.ms"},
	}, topic))
	if err != nil {
		t.Fatalf("incremental delete: %v", err)
	}
	waitConfigs(t, ctx, adm, topic, hasConfig("retention.ms", "7200000", kmsg.ConfigSourceStaticBrokerConfig))
}

// TestTopicConfigAlter: IncrementalAlterConfigs changes only the named
// keys; AlterConfigs replaces the whole override set; validate-only changes
// nothing; bad keys, values and topics get Kafka's error codes.
func TestTopicConfigAlter(t *testing.T) {
	tg := newTarget(t, nil)
	ctx := testCtx(t, 30*time.Second)
	adm := tg.admin()
	topic := tg.createTopic(ctx, 1, map[string]*string{"retention.bytes": strp("10000000")})

	waitConfigs(t, ctx, adm, topic,
		hasConfig("retention.bytes", "10000000", kmsg.ConfigSourceDynamicTopicConfig),
		notDynamic("retention.ms"),
	)

	// Incremental: adds two overrides, keeps the existing one.
	err := alterErr(adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{
		{Op: kadm.SetConfig, Name: "retention.ms", Value: strp("1000000")},
		{Op: kadm.SetConfig, Name: "max.message.bytes", Value: strp("5000")},
	}, topic))
	if err != nil {
		t.Fatalf("incremental set: %v", err)
	}
	waitConfigs(t, ctx, adm, topic,
		hasConfig("retention.ms", "1000000", kmsg.ConfigSourceDynamicTopicConfig),
		hasConfig("max.message.bytes", "5000", kmsg.ConfigSourceDynamicTopicConfig),
		hasConfig("retention.bytes", "10000000", kmsg.ConfigSourceDynamicTopicConfig),
	)

	// Validate-only: accepted, not applied.
	err = alterErr(adm.ValidateAlterTopicConfigs(ctx, []kadm.AlterConfig{
		{Op: kadm.SetConfig, Name: "retention.ms", Value: strp("5")},
	}, topic))
	if err != nil {
		t.Fatalf("validate-only incremental set: %v", err)
	}
	if err := hasConfig("retention.ms", "1000000", kmsg.ConfigSourceDynamicTopicConfig)(describeTopic(t, ctx, adm, topic)); err != nil {
		t.Errorf("after a validate-only alter: %v", err)
	}

	// Non-incremental AlterConfigs: the request is the whole new override
	// set, so the three overrides above disappear.
	err = alterErr(adm.AlterTopicConfigsState(ctx, []kadm.AlterConfig{
		{Name: "segment.ms", Value: strp("3600000")},
	}, topic))
	if err != nil {
		t.Fatalf("alter configs: %v", err)
	}
	waitConfigs(t, ctx, adm, topic,
		hasConfig("segment.ms", "3600000", kmsg.ConfigSourceDynamicTopicConfig),
		notDynamic("retention.ms"), notDynamic("max.message.bytes"), notDynamic("retention.bytes"),
	)

	// Incremental delete of an override.
	err = alterErr(adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.DeleteConfig, Name: "segment.ms"}}, topic))
	if err != nil {
		t.Fatalf("incremental delete: %v", err)
	}
	waitConfigs(t, ctx, adm, topic, notDynamic("segment.ms"))

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
	if err := notDynamic("retention.ms")(describeTopic(t, ctx, adm, topic)); err != nil {
		t.Errorf("after rejected alters: %v", err)
	}

	rcs, err := adm.DescribeTopicConfigs(ctx, uniqueName(t, "missing"))
	if err == nil && len(rcs) == 1 {
		err = rcs[0].Err
	}
	if !errors.Is(err, kerr.UnknownTopicOrPartition) {
		t.Errorf("describe configs of unknown topic: %v, want UNKNOWN_TOPIC_OR_PARTITION", err)
	}
}
