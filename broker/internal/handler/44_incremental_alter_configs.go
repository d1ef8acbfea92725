package handler

// IncrementalAlterConfigs (key 44), versions 0-1.
//
// TOPIC resources: SET, DELETE, APPEND and SUBTRACT (the last two on list
// keys such as cleanup.policy) applied to the topic's current overrides, all
// of one resource's operations validated before any applies.
// Not implemented: BROKER resources (INVALID_REQUEST).

import (
	"context"
	"maps"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/highwater-io/highwater/broker/internal/config"
)

func init() { register(kmsg.IncrementalAlterConfigs, 0, 1, (*Server).incrementalAlterConfigs) }

func (s *Server) incrementalAlterConfigs(ctx context.Context, _ *Conn, req *kmsg.IncrementalAlterConfigsRequest) (*kmsg.IncrementalAlterConfigsResponse, error) {
	resp := req.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
	for _, rr := range req.Resources {
		sr := kmsg.NewIncrementalAlterConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		err := s.incrementalAlterOne(ctx, rr, req.ValidateOnly)
		sr.ErrorCode, sr.ErrorMessage = errorCode(err), errorMessage(err)
		resp.Resources = append(resp.Resources, sr)
	}
	return resp, nil
}

func (s *Server) incrementalAlterOne(ctx context.Context, rr kmsg.IncrementalAlterConfigsRequestResource, validateOnly bool) error {
	if rr.ResourceType != kmsg.ConfigResourceTypeTopic {
		return kerrWithMessage(kerr.InvalidRequest, "dynamic broker configs are not supported; set them in server.properties")
	}
	t, ok := s.cfg.Topics.Get(rr.ResourceName)
	if !ok {
		return kerr.UnknownTopicOrPartition
	}
	configs := maps.Clone(t.Configs())
	for _, c := range rr.Configs {
		d, known := config.TopicDef(c.Name)
		if !known {
			return kerrWithMessage(kerr.InvalidConfig, "unknown topic configuration %q", c.Name)
		}
		switch c.Op {
		case kmsg.IncrementalAlterConfigOpSet:
			if c.Value == nil {
				return kerrWithMessage(kerr.InvalidRequest, "SET of %s without a value", c.Name)
			}
			configs[c.Name] = *c.Value
		case kmsg.IncrementalAlterConfigOpDelete:
			delete(configs, c.Name)
		case kmsg.IncrementalAlterConfigOpAppend, kmsg.IncrementalAlterConfigOpSubtract:
			if d.Type != config.TypeList {
				return kerrWithMessage(kerr.InvalidConfig, "%s is not a list; APPEND and SUBTRACT apply only to lists", c.Name)
			}
			current, _ := s.cfg.Broker.Topic(configs, c.Name)
			configs[c.Name] = editList(current, c.Value, c.Op == kmsg.IncrementalAlterConfigOpAppend)
		default:
			return kerrWithMessage(kerr.InvalidRequest, "unknown operation %d", c.Op)
		}
	}
	return s.setTopicConfigs(ctx, rr.ResourceName, configs, validateOnly)
}

func editList(current string, value *string, add bool) string {
	var items []string
	for _, it := range strings.Split(current, ",") {
		if it = strings.TrimSpace(it); it != "" {
			items = append(items, it)
		}
	}
	if value == nil {
		return strings.Join(items, ",")
	}
	for _, v := range strings.Split(*value, ",") {
		v = strings.TrimSpace(v)
		if add && !slices.Contains(items, v) {
			items = append(items, v)
		}
		if !add {
			items = slices.DeleteFunc(items, func(s string) bool { return s == v })
		}
	}
	return strings.Join(items, ",")
}
