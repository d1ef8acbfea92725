package handler

import (
	"context"
	"fmt"
	"reflect"
	"sort"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// An api is one Kafka API key the broker serves: the versions it accepts and
// the function that answers it. The registry is the single source of truth
// for both dispatch and the ApiVersions response, so the two cannot drift.
type api struct {
	key        int16
	name       string
	minVersion int16
	maxVersion int16
	handle     func(ctx context.Context, s *Server, c *Conn, req kmsg.Request) (kmsg.Response, error)
}

var registry = map[int16]*api{}

// register adds one API key to the registry. Each file NN_name.go calls it
// from init with a typed handler:
//
//	func init() { register(kmsg.Produce, 3, 11, (*Server).produce) }
//
// A handler returns the response (nil means "send no response", which only
// acks=0 Produce uses) or a Go error, which closes the connection.
func register[Req kmsg.Request, Resp kmsg.Response](key kmsg.Key, minVersion, maxVersion int16,
	fn func(s *Server, ctx context.Context, c *Conn, req Req) (Resp, error)) {
	if _, dup := registry[int16(key)]; dup {
		panic(fmt.Sprintf("handler: API key %d registered twice", key))
	}
	if probe := kmsg.RequestForKey(int16(key)); probe == nil || maxVersion > probe.MaxVersion() {
		panic(fmt.Sprintf("handler: API key %d: kmsg does not know version %d", key, maxVersion))
	}
	registry[int16(key)] = &api{
		key:        int16(key),
		name:       key.Name(),
		minVersion: minVersion,
		maxVersion: maxVersion,
		handle: func(ctx context.Context, s *Server, c *Conn, req kmsg.Request) (kmsg.Response, error) {
			resp, err := fn(s, ctx, c, req.(Req))
			if err != nil {
				return nil, err
			}
			// A typed nil pointer must become an untyped nil interface.
			var r kmsg.Response = resp
			if isNilResponse(r) {
				return nil, nil
			}
			r.SetVersion(req.GetVersion())
			return r, nil
		},
	}
}

// Supported reports the version range served for an API key.
func Supported(key int16) (minVersion, maxVersion int16, ok bool) {
	a, ok := registry[key]
	if !ok {
		return 0, 0, false
	}
	return a.minVersion, a.maxVersion, true
}

// apiKeys lists the registry in key order, for ApiVersions and CONFORMANCE.md.
func apiKeys() []*api {
	out := make([]*api, 0, len(registry))
	for _, a := range registry {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key < out[j].key })
	return out
}

// APIVersion is one row of the registry, exported for documentation tools.
type APIVersion struct {
	Key        int16
	Name       string
	MinVersion int16
	MaxVersion int16
}

// APIVersions returns every served API key with its version range, in key order.
func APIVersions() []APIVersion {
	var out []APIVersion
	for _, a := range apiKeys() {
		out = append(out, APIVersion{a.key, a.name, a.minVersion, a.maxVersion})
	}
	return out
}

func isNilResponse(r kmsg.Response) bool {
	if r == nil {
		return true
	}
	v := reflect.ValueOf(r)
	return v.Kind() == reflect.Pointer && v.IsNil()
}
