package handler

// InitProducerId (key 22), versions 0-5.
//
// Without a transactional id (idempotent producers) a request gets a fresh
// producer id with epoch 0, always, whatever ProducerID/ProducerEpoch it
// carries (v3+): that is what Kafka's coordinator does for a null
// transactional id. KIP-360 epoch bumps of idempotent producers happen in
// the client (Java's TransactionManager and franz-go bump the epoch locally
// and restart sequences at 0, which the partition accepts as a new epoch);
// a client only comes back here when its epoch would overflow, and then a
// new id is exactly what it needs. Ids come from Config.ProducerIDs, which
// persists reservations so that no id is reused across restarts.
//
// With a transactional id the request goes to the transaction coordinator
// (package txn): Config.ProducerIDs implements Transactions when the
// broker runs one (as in Kafka, the transaction coordinator is what
// allocates producer ids). The epoch is bumped, fencing the previous
// producer of the id; an open transaction of that producer is aborted
// first and the request answered CONCURRENT_TRANSACTIONS (the client
// retries); INVALID_TRANSACTION_TIMEOUT above transaction.max.timeout.ms;
// KIP-360 retries (v3+ with the producer's id and epoch) get the current
// epoch back or PRODUCER_FENCED (INVALID_PRODUCER_EPOCH before v4,
// KIP-588). In cluster mode an id not coordinated here gets
// NOT_COORDINATOR. Without a transaction coordinator a transactional id
// is answered INVALID_REQUEST (clients then fail at once rather than
// retrying).
//
// v3+ with exactly one of ProducerID/ProducerEpoch set to -1 is
// INVALID_REQUEST, as in Kafka; so is an empty transactional id.
//
// Under transaction version 2 (highwater.transaction.version=2) fencing
// an open transaction bumps the epoch twice (fenced, then aborted), as
// Kafka's coordinator does there.
//
// Not implemented: v6 (KIP-939 two-phase commit, keepPreparedTxn).

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

func (s *Server) initProducerID(ctx context.Context, c *Conn, req *kmsg.InitProducerIDRequest) (*kmsg.InitProducerIDResponse, error) {
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	switch {
	case req.Version >= 3 && (req.ProducerID == -1) != (req.ProducerEpoch == -1):
		resp.ErrorCode = kerr.InvalidRequest.Code
		return resp, nil
	case req.TransactionalID != nil:
		txns := s.transactions()
		if *req.TransactionalID == "" || txns == nil {
			if txns == nil {
				s.log.Warn("transactional producer refused: no transaction coordinator configured",
					"transactional.id", *req.TransactionalID, "client", c.ClientID, "remote", c.RemoteAddr)
			}
			resp.ErrorCode = kerr.InvalidRequest.Code
			return resp, nil
		}
		return parked(txns.InitProducerID(ctx, req), ctx)
	case s.cfg.ProducerIDs == nil:
		// Not wired: behave like a broker without the coordinator ready.
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return resp, nil
	}
	id, err := s.cfg.ProducerIDs.NextProducerID()
	if err != nil {
		// No id block yet (not registered, or the controller is out of
		// reach): Kafka answers COORDINATOR_LOAD_IN_PROGRESS here, which
		// clients retry, rather than a fatal error.
		s.log.Warn("allocating a producer id", "err", err)
		resp.ErrorCode = kerr.CoordinatorLoadInProgress.Code
		return resp, nil
	}
	resp.ProducerID, resp.ProducerEpoch = id, 0
	return resp, nil
}
