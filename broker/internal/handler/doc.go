// Package handler answers Kafka requests: one file per API key
// (NN_name.go, NN being the key), each opening with the versions it
// supports, what it does and what it does not implement. registry.go is the
// single table that feeds both dispatch and the ApiVersions response.
//
// Error channels: a Kafka error travels inside the response as an error
// code; a Go error returned by a handler means "close this connection" and
// nothing else. Domain packages return sentinel errors that errors.go maps to
// codes in one place.
//
// Concurrency: the wire layer calls Dispatch from one goroutine per
// connection, one request at a time (Kafka's per-connection ordering).
// Handlers may block (long-poll Fetch, JoinGroup) until ctx is done.
package handler
