package config

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Source says where a value came from, numbered as Kafka's DescribeConfigs
// reports it.
type Source int8

const (
	SourceTopic         Source = 1 // DYNAMIC_TOPIC_CONFIG
	SourceStaticBroker  Source = 4 // STATIC_BROKER_CONFIG
	SourceDefault       Source = 5 // DEFAULT_CONFIG
	SourceUnknownSource Source = 0
)

// Broker is the validated static configuration of one broker: what
// server.properties and overrides set, over Kafka's defaults.
type Broker struct {
	set map[string]string
}

// NewBroker validates props. Unknown keys are returned as warnings (Kafka
// logs them and carries on); an invalid value of a known key is an error.
func NewBroker(props map[string]string) (*Broker, []string, error) {
	b := &Broker{set: map[string]string{}}
	var warnings []string
	var errs []error
	keys := make([]string, 0, len(props))
	for k := range props {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := strings.TrimSpace(props[k])
		d, ok := brokerByName[k]
		if !ok {
			warnings = append(warnings, fmt.Sprintf("unknown configuration %q ignored", k))
			continue
		}
		if err := d.Validate(v); err != nil {
			errs = append(errs, err)
			continue
		}
		b.set[k] = v
	}
	if err := errors.Join(errs...); err != nil {
		return nil, warnings, err
	}
	return b, warnings, nil
}

// Get returns a broker key's effective value and its source. Keys with an
// hours/minutes/ms family resolve as Kafka does (the finest unit set wins).
func (b *Broker) Get(name string) (string, Source, bool) {
	if v, ok := b.set[name]; ok {
		return v, SourceStaticBroker, true
	}
	switch name {
	case "log.retention.ms":
		if v, ok := b.set["log.retention.minutes"]; ok {
			return mulString(v, 60_000), SourceStaticBroker, true
		}
		v, src, _ := b.Get("log.retention.hours")
		return mulString(v, 3_600_000), src, true
	case "log.roll.ms":
		v, src, _ := b.Get("log.roll.hours")
		return mulString(v, 3_600_000), src, true
	case "log.flush.interval.ms":
		return b.Get("log.flush.scheduler.interval.ms")
	case "node.id":
		if v, ok := b.set["broker.id"]; ok && v != "-1" {
			return v, SourceStaticBroker, true
		}
	case "log.dirs":
		return b.Get("log.dir")
	case "advertised.listeners":
		return b.Get("listeners")
	}
	d, ok := brokerByName[name]
	if !ok || !d.HasDefault {
		return "", SourceDefault, false
	}
	return d.Default, SourceDefault, true
}

func mulString(v string, factor int64) string {
	n, _ := strconv.ParseInt(v, 10, 64)
	if n < 0 {
		return strconv.FormatInt(n, 10)
	}
	return strconv.FormatInt(n*factor, 10)
}

// String returns a key's effective value ("" when it has none).
func (b *Broker) String(name string) string {
	v, _, _ := b.Get(name)
	return v
}

// Int64 returns a numeric key's effective value. Keys are validated on the
// way in, so a parse failure here means the key has no value: 0.
func (b *Broker) Int64(name string) int64 {
	n, _ := strconv.ParseInt(b.String(name), 10, 64)
	return n
}

// Bool returns a boolean key's effective value.
func (b *Broker) Bool(name string) bool { return b.String(name) == "true" }

// Topic returns a topic key's effective value for a topic with the given
// overrides, and where it came from.
func (b *Broker) Topic(overrides map[string]string, name string) (string, Source) {
	if v, ok := overrides[name]; ok {
		return v, SourceTopic
	}
	d, ok := topicByName[name]
	if !ok {
		return "", SourceUnknownSource
	}
	v, src, _ := b.Get(d.BrokerSynonym)
	return v, src
}

// TopicInt64 is Topic for numeric keys.
func (b *Broker) TopicInt64(overrides map[string]string, name string) int64 {
	v, _ := b.Topic(overrides, name)
	n, _ := strconv.ParseInt(v, 10, 64)
	return n
}

// ErrUnknownTopicConfig is returned for a topic key this broker does not know.
var ErrUnknownTopicConfig = errors.New("unknown topic configuration")

// ValidateTopic checks one topic override.
func ValidateTopic(name, value string) error {
	d, ok := topicByName[name]
	if !ok {
		return fmt.Errorf("%w %q", ErrUnknownTopicConfig, name)
	}
	return d.Validate(value)
}
