package handler

// InitProducerId (key 22), versions 0-5.
//
// Idempotent producers only. A request without a transactional id gets a
// fresh producer id with epoch 0, always, whatever ProducerID/ProducerEpoch
// it carries (v3+): that is what Kafka's coordinator does for a null
// transactional id. KIP-360 epoch bumps of idempotent producers happen in
// the client (Java's TransactionManager and franz-go bump the epoch locally
// and restart sequences at 0, which the partition accepts as a new epoch);
// a client only comes back here when its epoch would overflow, and then a
// new id is exactly what it needs. Ids come from Config.ProducerIDs, which
// persists reservations so that no id is reused across restarts.
//
// v3+ with exactly one of ProducerID/ProducerEpoch set to -1 is
// INVALID_REQUEST, as in Kafka; so is an empty transactional id.
//
// Not implemented: transactions. A non-empty transactional id is answered
// INVALID_REQUEST (and logged): both the Java client (whose
// InitProducerIdHandler treats any code it does not name as fatal:
// "Unexpected error in InitProducerIdResponse; ... sent to an incompatible
// broker. See the broker logs") and franz-go (non-retriable codes end the
// transactional producer) then fail at once rather than retrying, as they
// would on COORDINATOR_NOT_AVAILABLE. TRANSACTIONAL_ID_AUTHORIZATION_FAILED
// would fail as fast but send users looking for ACLs.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.InitProducerID, 0, 5, (*Server).initProducerID) }

// ProducerIDs hands out producer ids that are never reused.
type ProducerIDs interface {
	NextProducerID() (int64, error)
}

func (s *Server) initProducerID(_ context.Context, c *Conn, req *kmsg.InitProducerIDRequest) (*kmsg.InitProducerIDResponse, error) {
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	switch {
	case req.Version >= 3 && (req.ProducerID == -1) != (req.ProducerEpoch == -1):
		resp.ErrorCode = kerr.InvalidRequest.Code
		return resp, nil
	case req.TransactionalID != nil:
		if *req.TransactionalID != "" {
			s.log.Warn("transactional producer refused: transactions are not supported by this broker yet",
				"transactional.id", *req.TransactionalID, "client", c.ClientID, "remote", c.RemoteAddr)
		}
		resp.ErrorCode = kerr.InvalidRequest.Code
		return resp, nil
	case s.cfg.ProducerIDs == nil:
		// Not wired: behave like a broker without the coordinator ready.
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return resp, nil
	}
	id, err := s.cfg.ProducerIDs.NextProducerID()
	if err != nil {
		s.log.Error("allocating a producer id", "err", err)
		resp.ErrorCode = kerr.UnknownServerError.Code
		return resp, nil
	}
	resp.ProducerID, resp.ProducerEpoch = id, 0
	return resp, nil
}
