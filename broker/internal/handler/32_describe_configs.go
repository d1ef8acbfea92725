package handler

// DescribeConfigs (key 32), versions 1-4 (Kafka 4.0's floor is 1).
//
// TOPIC resources: every topic key this broker knows, each with its
// effective value and source (DYNAMIC_TOPIC_CONFIG for an override,
// STATIC_BROKER_CONFIG when server.properties set the broker synonym,
// DEFAULT_CONFIG otherwise), synonyms when asked, types and documentation
// (v3+). BROKER resources (this node's id, or "" for cluster defaults):
// the broker keys with their static values, all read-only since dynamic
// broker configs are not supported.
// Not implemented: BROKER_LOGGER resources (INVALID_REQUEST).

import (
	"context"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/highwater-io/highwater/broker/internal/config"
)

func init() { register(kmsg.DescribeConfigs, 1, 4, (*Server).describeConfigs) }

type configEntry struct {
	name, value string
	source      int8
	typ         config.Type
	readOnly    bool
	doc         string
	synonyms    []kmsg.DescribeConfigsResponseResourceConfigConfigSynonym
}

func (s *Server) describeConfigs(_ context.Context, _ *Conn, req *kmsg.DescribeConfigsRequest) (*kmsg.DescribeConfigsResponse, error) {
	resp := req.ResponseKind().(*kmsg.DescribeConfigsResponse)
	for _, rr := range req.Resources {
		sr := kmsg.NewDescribeConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		var entries []configEntry
		switch rr.ResourceType {
		case kmsg.ConfigResourceTypeTopic:
			t, ok := s.cfg.Topics.Get(rr.ResourceName)
			if !ok {
				sr.ErrorCode = kerr.UnknownTopicOrPartition.Code
				resp.Resources = append(resp.Resources, sr)
				continue
			}
			entries = s.topicConfigEntries(t.Configs())
		case kmsg.ConfigResourceTypeBroker:
			if rr.ResourceName != "" && rr.ResourceName != strconv.Itoa(int(s.cfg.NodeID)) {
				sr.ErrorCode = kerr.InvalidRequest.Code
				msg := "unknown broker " + rr.ResourceName
				sr.ErrorMessage = &msg
				resp.Resources = append(resp.Resources, sr)
				continue
			}
			entries = s.brokerConfigEntries()
		default:
			sr.ErrorCode = kerr.InvalidRequest.Code
			msg := "unsupported resource type"
			sr.ErrorMessage = &msg
			resp.Resources = append(resp.Resources, sr)
			continue
		}
		want := map[string]bool{}
		for _, k := range rr.ConfigNames {
			want[k] = true
		}
		for _, e := range entries {
			if rr.ConfigNames != nil && !want[e.name] {
				continue
			}
			c := kmsg.NewDescribeConfigsResponseResourceConfig()
			c.Name, c.ReadOnly = e.name, e.readOnly
			value := e.value
			c.Value = &value
			c.Source = kmsg.ConfigSource(e.source)
			c.IsDefault = e.source == int8(config.SourceDefault)
			if req.IncludeSynonyms {
				c.ConfigSynonyms = e.synonyms
			}
			c.ConfigType = kmsg.ConfigType(e.typ)
			if req.IncludeDocumentation && e.doc != "" {
				doc := e.doc
				c.Documentation = &doc
			}
			sr.Configs = append(sr.Configs, c)
		}
		resp.Resources = append(resp.Resources, sr)
	}
	return resp, nil
}

// topicConfigEntries resolves every topic key for a topic's overrides.
func (s *Server) topicConfigEntries(overrides map[string]string) []configEntry {
	var out []configEntry
	for _, d := range config.TopicDefs() {
		value, src := s.cfg.Broker.Topic(overrides, d.Name)
		e := configEntry{name: d.Name, value: value, source: int8(src), typ: d.Type, doc: d.Doc}
		if v, ok := overrides[d.Name]; ok {
			e.synonyms = append(e.synonyms, synonym(d.Name, v, config.SourceTopic))
		}
		if v, bsrc, ok := s.cfg.Broker.Get(d.BrokerSynonym); ok {
			e.synonyms = append(e.synonyms, synonym(d.BrokerSynonym, v, bsrc))
		}
		out = append(out, e)
	}
	return out
}

func (s *Server) brokerConfigEntries() []configEntry {
	var out []configEntry
	for _, d := range config.BrokerDefs() {
		value, src, ok := s.cfg.Broker.Get(d.Name)
		if !ok {
			continue
		}
		out = append(out, configEntry{name: d.Name, value: value, source: int8(src), typ: d.Type, readOnly: true, doc: d.Doc,
			synonyms: []kmsg.DescribeConfigsResponseResourceConfigConfigSynonym{synonym(d.Name, value, src)}})
	}
	return out
}

func synonym(name, value string, src config.Source) kmsg.DescribeConfigsResponseResourceConfigConfigSynonym {
	syn := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
	syn.Name, syn.Value, syn.Source = name, &value, kmsg.ConfigSource(src)
	return syn
}
