// Package wire serves the Kafka protocol on TCP: framing, request headers,
// decoding into franz-go kmsg requests, and writing responses. It owns one
// goroutine per connection, which reads a request, has the handler answer
// it and writes the response before reading the next: Kafka's guarantee
// that a connection's requests are processed in order.
//
// Bad input never reaches a handler: a frame larger than
// socket.request.max.bytes, an unknown API key, an unsupported version or a
// body that does not decode closes that connection (as Kafka does), except
// that an ApiVersions request at a version above the newest supported one is
// answered at v0 with UNSUPPORTED_VERSION and the supported list (KIP-511).
// A panic in a handler is recovered, logged and closes only its connection.
package wire
