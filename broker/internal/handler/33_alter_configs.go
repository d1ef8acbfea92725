package handler

// AlterConfigs (key 33), versions 0-2.
//
// TOPIC resources: the request's entries replace the topic's whole set of
// overrides (Kafka's legacy, non-incremental semantics); a null value
// removes a key. ValidateOnly checks without applying. Changes reach the
// topic's partition logs at once (segment size, retention, flush).
// Not implemented: BROKER resources (dynamic broker configs) are refused with
// INVALID_REQUEST.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.AlterConfigs, 0, 2, (*Server).alterConfigs) }

func (s *Server) alterConfigs(ctx context.Context, _ *Conn, req *kmsg.AlterConfigsRequest) (*kmsg.AlterConfigsResponse, error) {
	resp := req.ResponseKind().(*kmsg.AlterConfigsResponse)
	for _, rr := range req.Resources {
		sr := kmsg.NewAlterConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		var err error
		if rr.ResourceType != kmsg.ConfigResourceTypeTopic {
			err = kerrWithMessage(kerr.InvalidRequest, "dynamic broker configs are not supported; set them in server.properties")
		} else {
			configs := map[string]string{}
			for _, c := range rr.Configs {
				if c.Value != nil {
					configs[c.Name] = *c.Value
				}
			}
			err = s.setTopicConfigs(ctx, rr.ResourceName, configs, req.ValidateOnly)
		}
		sr.ErrorCode, sr.ErrorMessage = errorCode(err), errorMessage(err)
		resp.Resources = append(resp.Resources, sr)
	}
	return resp, nil
}
