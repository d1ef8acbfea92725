package handler

// ApiVersions (key 18), versions 0-4.
//
// Lists every API key in the registry with its version range: the same
// table dispatch uses, so what is advertised is what is served. A request
// at a version above 4 never reaches here: the wire layer answers it with a
// v0 response carrying UNSUPPORTED_VERSION and the same list (KIP-511).
// v3+ carries features (KIP-584) when a transaction coordinator runs:
// SupportedFeatures transaction.version 0-2, FinalizedFeatures
// transaction.version at the level highwater.transaction.version sets (1
// or 2), with FinalizedFeaturesEpoch the time that level was loaded (ms,
// so a restart with another level is newer). Clients take KIP-890 part 2
// (EndTxn v5, Produce v12 without AddPartitionsToTxn, TxnOffsetCommit v5
// without AddOffsetsToTxn) only at level 2; at level 1 EndTxn,
// AddPartitionsToTxn and TxnOffsetCommit are listed up to v4, as before
// transaction version 2 existed, and v5 requests are refused.
// Not implemented: the other features Kafka 4.1 lists (metadata.version,
// kraft.version, group.version, eligible.leader.replicas.version,
// share.version, streams.version): none is finalized here, so none is
// listed; throttling.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.ApiVersions, 0, 4, (*Server).apiVersions) }

// transactionVersionFeature is the KIP-584 feature KIP-890 part 2 is
// gated on.
const transactionVersionFeature = "transaction.version"

func (s *Server) apiVersions(_ context.Context, _ *Conn, req *kmsg.ApiVersionsRequest) (*kmsg.ApiVersionsResponse, error) {
	resp := req.ResponseKind().(*kmsg.ApiVersionsResponse)
	level, epoch := s.txnVersion()
	// Every version is listed whatever the level, as Kafka does: a
	// client takes the version-2 protocol from the finalized feature, and
	// a v5 EndTxn, AddPartitionsToTxn or TxnOffsetCommit is served the
	// version-2 way at any level (Kafka decides per request version).
	resp.ApiKeys = APIVersionsList()
	if level > 0 {
		sf := kmsg.NewApiVersionsResponseSupportedFeature()
		sf.Name, sf.MinVersion, sf.MaxVersion = transactionVersionFeature, 0, 2
		resp.SupportedFeatures = []kmsg.ApiVersionsResponseSupportedFeature{sf}
		ff := kmsg.NewApiVersionsResponseFinalizedFeature()
		ff.Name, ff.MinVersionLevel, ff.MaxVersionLevel = transactionVersionFeature, level, level
		resp.FinalizedFeatures = []kmsg.ApiVersionsResponseFinalizedFeature{ff}
		resp.FinalizedFeaturesEpoch = epoch
	}
	return resp, nil
}

// APIVersionsList is the registry as ApiVersions keys (every version
// dispatch serves): the ApiVersions answer's list, and the wire layer's
// for the KIP-511 unsupported-version answer.
func APIVersionsList() []kmsg.ApiVersionsResponseApiKey {
	var keys []kmsg.ApiVersionsResponseApiKey
	for _, a := range apiKeys() {
		k := kmsg.NewApiVersionsResponseApiKey()
		k.ApiKey, k.MinVersion, k.MaxVersion = a.key, a.minVersion, a.maxVersion
		keys = append(keys, k)
	}
	return keys
}
