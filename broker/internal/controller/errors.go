package controller

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Kafka errors of controller decisions. They travel in responses per topic
// or partition; Code maps them to wire codes in one place.
var (
	ErrTopicAlreadyExists          = errors.New("controller: topic already exists")
	ErrInvalidTopic                = errors.New("controller: invalid topic")
	ErrInvalidPartitions           = errors.New("controller: invalid partitions")
	ErrInvalidReplicationFactor    = errors.New("controller: invalid replication factor")
	ErrInvalidReplicaAssignment    = errors.New("controller: invalid replica assignment")
	ErrInvalidConfig               = errors.New("controller: invalid config")
	ErrInvalidRequest              = errors.New("controller: invalid request")
	ErrUnknownTopicOrPartition     = errors.New("controller: unknown topic or partition")
	ErrUnknownTopicID              = errors.New("controller: unknown topic id")
	ErrStaleBrokerEpoch            = errors.New("controller: stale broker epoch")
	ErrBrokerIDNotRegistered       = errors.New("controller: broker id not registered")
	ErrDuplicateBrokerRegistration = errors.New("controller: duplicate broker registration")
	ErrFencedLeaderEpoch           = errors.New("controller: fenced leader epoch")
	ErrInvalidUpdateVersion        = errors.New("controller: invalid update version")
	ErrNotController               = errors.New("controller: not controller")
	ErrIneligibleReplica           = errors.New("controller: ineligible replica")
	ErrElectionNotNeeded           = errors.New("controller: election not needed")
	ErrPreferredLeaderNotAvailable = errors.New("controller: preferred leader not available")
	ErrEligibleLeadersNotAvailable = errors.New("controller: eligible leaders not available")
	ErrPolicyViolation             = errors.New("controller: policy violation")
)

// Errors of this package's own contract.
var (
	// ErrInternal: a record the controller generated was refused by
	// metadata.Apply. A bug; the decision is dropped and the image kept.
	ErrInternal = errors.New("controller: internal error")
	// ErrConfig: an invalid Config.
	ErrConfig = errors.New("controller: invalid config")
)

var codes = []struct {
	err  error
	kerr *kerr.Error
}{
	{ErrTopicAlreadyExists, kerr.TopicAlreadyExists},
	{ErrInvalidTopic, kerr.InvalidTopicException},
	{ErrInvalidPartitions, kerr.InvalidPartitions},
	{ErrInvalidReplicationFactor, kerr.InvalidReplicationFactor},
	{ErrInvalidReplicaAssignment, kerr.InvalidReplicaAssignment},
	{ErrInvalidConfig, kerr.InvalidConfig},
	{ErrInvalidRequest, kerr.InvalidRequest},
	{ErrUnknownTopicOrPartition, kerr.UnknownTopicOrPartition},
	{ErrUnknownTopicID, kerr.UnknownTopicID},
	{ErrStaleBrokerEpoch, kerr.StaleBrokerEpoch},
	{ErrBrokerIDNotRegistered, kerr.BrokerIDNotRegistered},
	{ErrDuplicateBrokerRegistration, kerr.DuplicateBrokerRegistration},
	{ErrFencedLeaderEpoch, kerr.FencedLeaderEpoch},
	{ErrInvalidUpdateVersion, kerr.InvalidUpdateVersion},
	{ErrNotController, kerr.NotController},
	{ErrIneligibleReplica, kerr.IneligibleReplica},
	{ErrElectionNotNeeded, kerr.ElectionNotNeeded},
	{ErrPreferredLeaderNotAvailable, kerr.PreferredLeaderNotAvailable},
	{ErrEligibleLeadersNotAvailable, kerr.EligibleLeadersNotAvailable},
	{ErrPolicyViolation, kerr.PolicyViolation},
}

// Code maps an error of this package to its Kafka error code: 0 for nil,
// UNKNOWN_SERVER_ERROR for anything else.
func Code(err error) int16 {
	if err == nil {
		return 0
	}
	for _, c := range codes {
		if errors.Is(err, c.err) {
			return c.kerr.Code
		}
	}
	return kerr.UnknownServerError.Code
}

// Name is the Kafka name of an error (NONE for nil), for logs and scripts.
func Name(err error) string {
	if err == nil {
		return "NONE"
	}
	for _, c := range codes {
		if errors.Is(err, c.err) {
			return c.kerr.Message
		}
	}
	return kerr.UnknownServerError.Message
}
