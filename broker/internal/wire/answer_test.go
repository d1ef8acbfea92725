package wire

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/highwater-io/highwater/broker/internal/handler"
)

// TestEverySeedAnswered: each seed request (every registered API key at its
// oldest and newest version, and the richer ones) decodes and gets a
// well-formed response with its correlation id, so the fuzz seeds start
// from inputs that reach the handlers rather than the decoder's error path.
func TestEverySeedAnswered(t *testing.T) {
	env := newTestEnv(t)
	for i, req := range seedRequests(t) {
		frame := encodeFrame(req, int32(1000+i))
		name := kmsg.NameForKey(req.Key())
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		out, err := env.srv.handleFrame(ctx, &handler.Conn{RemoteAddr: "test"}, frame, nil)
		cancel()
		env.checkNoPanic(t)
		if err != nil {
			t.Errorf("%s v%d: connection closed: %v", name, req.GetVersion(), err)
			continue
		}
		if out == nil {
			t.Errorf("%s v%d: no response", name, req.GetVersion())
			continue
		}
		h, _ := parseHeader(frame)
		if err := checkResponse(h, out); err != nil {
			t.Errorf("%s v%d: %v", name, req.GetVersion(), err)
		}
	}
}
