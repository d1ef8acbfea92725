package broker

// Routing of coordinator requests to the Service loaded here for their key
// (a group id, a transactional id); keys coordinated elsewhere, or whose
// partition is still loading, answer NOT_COORDINATOR, and the client looks
// the coordinator up again. route serves requests naming one key, split
// those batching several (each item answered by its own Service). What a
// refusal looks like is the only per-API part.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var notCoordinator = kerr.NotCoordinator.Code

// route answers req, which names the one key key, with serve on the
// Service coordinating key here; without one, with an empty response of
// req's kind that refuse marks NOT_COORDINATOR.
func route[S partitionService, Req kmsg.Request, Resp kmsg.Response](it *internalTopic[S], ctx context.Context, key string, req Req,
	serve func(S, context.Context, Req) Resp, refuse func(Req, Resp)) Resp {
	if svc, ok := it.serviceFor(key); ok {
		return serve(svc, ctx, req)
	}
	resp := req.ResponseKind().(Resp)
	refuse(req, resp)
	return resp
}

// split answers the items of a request batching several keys one by one:
// ask answers an item (key keyOf(item)) with the Service coordinating it
// here, refuse one without. ok is false when ask reports that a Service
// answered nil (its context ended), which ends the whole answer with nil
// too: the connection closes, as for a request naming one key.
func split[S partitionService, In, Out any](it *internalTopic[S], items []In, keyOf func(In) string,
	ask func(S, In) (out []Out, ok bool), refuse func(In) Out) (answers []Out, ok bool) {
	for _, item := range items {
		svc, led := it.serviceFor(keyOf(item))
		if !led {
			answers = append(answers, refuse(item))
			continue
		}
		out, ok := ask(svc, item)
		if !ok {
			return nil, false
		}
		answers = append(answers, out...)
	}
	return answers, true
}

// itself is the key of an item that is its key.
func itself(key string) string { return key }
