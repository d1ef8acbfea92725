package handler

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/highwater-io/highwater/broker/internal/partlog"
	"github.com/highwater-io/highwater/broker/internal/records"
	"github.com/highwater-io/highwater/broker/internal/topics"
)

// errorCode maps a domain error to the Kafka error code a response carries.
// This is the one place that mapping lives.
func errorCode(err error) int16 {
	var ke *kerr.Error
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ke):
		return ke.Code
	case errors.Is(err, topics.ErrUnknownTopic):
		return kerr.UnknownTopicOrPartition.Code
	case errors.Is(err, topics.ErrTopicExists):
		return kerr.TopicAlreadyExists.Code
	case errors.Is(err, topics.ErrInvalidTopic):
		return kerr.InvalidTopicException.Code
	case errors.Is(err, topics.ErrInvalidPartitions):
		return kerr.InvalidPartitions.Code
	case errors.Is(err, topics.ErrInvalidConfig):
		return kerr.InvalidConfig.Code
	case errors.Is(err, partlog.ErrOffsetOutOfRange):
		return kerr.OffsetOutOfRange.Code
	case errors.Is(err, records.ErrUnsupportedMagic):
		return kerr.UnsupportedForMessageFormat.Code
	case errors.Is(err, records.ErrInvalidTimestamp):
		return kerr.InvalidTimestamp.Code
	case errors.Is(err, records.ErrInvalidRecord):
		return kerr.InvalidRecord.Code
	case errors.Is(err, records.ErrCorrupt):
		return kerr.CorruptMessage.Code
	case errors.Is(err, partlog.ErrClosed):
		return kerr.NotLeaderForPartition.Code
	}
	return kerr.KafkaStorageError.Code
}

// errorMessage is the text for responses whose version carries one.
func errorMessage(err error) *string {
	if err == nil {
		return nil
	}
	s := err.Error()
	return &s
}
