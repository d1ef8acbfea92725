package config

import (
	"strings"
	"testing"
)

func TestParseProperties(t *testing.T) {
	in := "# comment\n! also\nnode.id=3\nlisteners = PLAINTEXT://127.0.0.1:9092\nlog.dirs:/tmp/a\\\n  ,/tmp/b\nkey\\=x value\n\nempty=\n"
	got, err := ParseProperties(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"node.id": "3", "listeners": "PLAINTEXT://127.0.0.1:9092", "log.dirs": "/tmp/a,/tmp/b", "key=x": "value", "empty": ""}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%q = %q, want %q", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("got %d keys, want %d: %v", len(got), len(want), got)
	}
}

func TestBrokerValidation(t *testing.T) {
	_, warnings, err := NewBroker(map[string]string{"no.such.key": "1", "num.partitions": "3"})
	if err != nil || len(warnings) != 1 {
		t.Fatalf("unknown key should warn, not fail: %v %v", warnings, err)
	}
	_, _, err = NewBroker(map[string]string{"num.partitions": "zero", "log.segment.bytes": "1"})
	if err == nil || !strings.Contains(err.Error(), "num.partitions") || !strings.Contains(err.Error(), "log.segment.bytes") {
		t.Fatalf("want both invalid keys named, got %v", err)
	}
}

func TestTopicResolution(t *testing.T) {
	b, _, err := NewBroker(map[string]string{"log.retention.hours": "1", "message.max.bytes": "2000"})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		overrides map[string]string
		key, want string
		src       Source
	}{
		{nil, "retention.ms", "3600000", SourceStaticBroker},
		{map[string]string{"retention.ms": "5"}, "retention.ms", "5", SourceTopic},
		{nil, "max.message.bytes", "2000", SourceStaticBroker},
		{nil, "segment.bytes", "1073741824", SourceDefault},
		{nil, "segment.ms", "604800000", SourceDefault},
		{nil, "retention.bytes", "-1", SourceDefault},
	}
	for _, c := range cases {
		v, src := b.Topic(c.overrides, c.key)
		if v != c.want || src != c.src {
			t.Errorf("%s: got %s (%d), want %s (%d)", c.key, v, src, c.want, c.src)
		}
	}
	for v, ok := range map[string]bool{"compact": true, "delete": true, "compact,delete": true, "delete, compact": true, "": false, "none": false, "compact,x": false} {
		if err := ValidateTopic("cleanup.policy", v); (err == nil) != ok {
			t.Errorf("cleanup.policy=%q: %v, want ok %v", v, err, ok)
		}
	}
	for v, ok := range map[string]bool{"0": true, "0.5": true, "1": true, "1.5": false, "-0.1": false, "x": false} {
		if err := ValidateTopic("min.cleanable.dirty.ratio", v); (err == nil) != ok {
			t.Errorf("min.cleanable.dirty.ratio=%q: %v, want ok %v", v, err, ok)
		}
	}
	if d, c := CleanupPolicy("compact,delete"); !d || !c {
		t.Error("compact,delete must mean both")
	}
	if v, _ := b.Topic(nil, "delete.retention.ms"); v != "86400000" {
		t.Errorf("delete.retention.ms default %q, want Kafka's 86400000", v)
	}
	if v, _ := b.Topic(nil, "max.compaction.lag.ms"); v != "9223372036854775807" {
		t.Errorf("max.compaction.lag.ms default %q, want Long.MAX_VALUE", v)
	}
	if err := ValidateTopic("nope", "1"); err == nil {
		t.Error("unknown topic key accepted")
	}
}
