package workload

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/highwater-io/highwater/history"
)

// definiteSendErrors are broker answers that reject a batch for what it is,
// before anything is appended, on every attempt alike: franz-go's retries
// resend the same batch, so no earlier attempt can have been written
// either. Everything else a produce can end with — timeouts, disconnects,
// NOT_LEADER_OR_FOLLOWER, NOT_ENOUGH_REPLICAS(_AFTER_APPEND), sequence and
// epoch errors after retries, a closed client — leaves the outcome open.
var definiteSendErrors = []error{
	kerr.MessageTooLarge,
	kerr.RecordListTooLarge,
	kerr.InvalidRecord,
	kerr.InvalidTimestamp,
	kerr.InvalidTopicException,
	kerr.InvalidRequiredAcks,
	kerr.TopicAuthorizationFailed,
	kerr.ClusterAuthorizationFailed,
	kerr.TransactionalIDAuthorizationFailed,
	kerr.UnsupportedForMessageFormat,
	kerr.UnsupportedCompressionType,
}

// Classify maps the error a produce ended with to the completion it is
// recorded as: ok for nil, fail only when the record certainly was not
// written (KAFKA.md: uncertainty is info, never fail), info otherwise.
func Classify(err error) history.Type {
	if err == nil {
		return history.TypeOK
	}
	for _, d := range definiteSendErrors {
		if errors.Is(err, d) {
			return history.TypeFail
		}
	}
	return history.TypeInfo
}
