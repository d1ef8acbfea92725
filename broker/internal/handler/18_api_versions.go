package handler

// ApiVersions (key 18), versions 0-4.
//
// Lists every API key in the registry with its version range: the same
// table dispatch uses, so what is advertised is what is served. A request
// at a version above 4 never reaches here: the wire layer answers it with a
// v0 response carrying UNSUPPORTED_VERSION and the same list (KIP-511).
// Not implemented: feature flags (SupportedFeatures / FinalizedFeatures are
// empty), throttling.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.ApiVersions, 0, 4, (*Server).apiVersions) }

func (s *Server) apiVersions(_ context.Context, _ *Conn, req *kmsg.ApiVersionsRequest) (*kmsg.ApiVersionsResponse, error) {
	resp := req.ResponseKind().(*kmsg.ApiVersionsResponse)
	resp.ApiKeys = APIVersionsList()
	return resp, nil
}

// APIVersionsList is the registry as ApiVersions keys; the wire layer also
// uses it for the KIP-511 unsupported-version answer.
func APIVersionsList() []kmsg.ApiVersionsResponseApiKey {
	var keys []kmsg.ApiVersionsResponseApiKey
	for _, a := range apiKeys() {
		k := kmsg.NewApiVersionsResponseApiKey()
		k.ApiKey, k.MinVersion, k.MaxVersion = a.key, a.minVersion, a.maxVersion
		keys = append(keys, k)
	}
	return keys
}
