package broker

// Routing of coordinator requests to the Service loaded here for their key
// (a group id, a transactional id). A key without one is refused with the
// code refusal names: COORDINATOR_LOAD_IN_PROGRESS while this node leads
// the key's partition but is still loading it (the client retries the same
// coordinator), NOT_COORDINATOR when another node leads it (the client
// looks the coordinator up again), as Kafka's transaction state manager
// and group coordinator runtime answer. route serves requests naming one
// key, split those batching several (each item answered by its own
// Service). What a refusal looks like is the only per-API part.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var (
	notCoordinator = kerr.NotCoordinator.Code
	loadInProgress = kerr.CoordinatorLoadInProgress.Code
)

// refusal is the code answering key when no Service coordinates it here:
// COORDINATOR_LOAD_IN_PROGRESS when the newest image makes this node the
// leader of key's partition (the driver loads a partition it newly leads
// before it registers its Service, so until then it is loading),
// NOT_COORDINATOR otherwise.
func (it *internalTopic[S]) refusal(key string) int16 {
	t, ok := it.image().TopicByName(it.spec.name)
	if !ok || len(t.Partitions) == 0 {
		return notCoordinator
	}
	if t.Partitions[it.spec.partitionOf(key, int32(len(t.Partitions)))].Leader == it.c.nodeID {
		return loadInProgress
	}
	return notCoordinator
}

// loading reports whether a partition this node leads in the newest image
// has no Service yet (the list APIs then answer
// COORDINATOR_LOAD_IN_PROGRESS, as Kafka's do while any partition loads).
func (it *internalTopic[S]) loading() bool {
	t, ok := it.image().TopicByName(it.spec.name)
	if !ok {
		return false
	}
	for i, p := range t.Partitions {
		if p.Leader != it.c.nodeID {
			continue
		}
		if _, loaded := it.servicePartition(int32(i)); !loaded {
			return true
		}
	}
	return false
}

// route answers req, which names the one key key, with serve on the
// Service coordinating key here; without one, with an empty response of
// req's kind that refuse marks with code (refusal).
func route[S partitionService, Req kmsg.Request, Resp kmsg.Response](it *internalTopic[S], ctx context.Context, key string, req Req,
	serve func(S, context.Context, Req) Resp, refuse func(req Req, resp Resp, code int16)) Resp {
	if svc, ok := it.serviceFor(key); ok {
		return serve(svc, ctx, req)
	}
	resp := req.ResponseKind().(Resp)
	refuse(req, resp, it.refusal(key))
	return resp
}

// split answers the items of a request batching several keys one by one:
// ask answers an item (key keyOf(item)) with the Service coordinating it
// here, refuse one without (code: refusal). ok is false when ask reports
// that a Service answered nil (its context ended), which ends the whole
// answer with nil too: the connection closes, as for a request naming one
// key.
func split[S partitionService, In, Out any](it *internalTopic[S], items []In, keyOf func(In) string,
	ask func(S, In) (out []Out, ok bool), refuse func(item In, code int16) Out) (answers []Out, ok bool) {
	for _, item := range items {
		svc, led := it.serviceFor(keyOf(item))
		if !led {
			answers = append(answers, refuse(item, it.refusal(keyOf(item))))
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
