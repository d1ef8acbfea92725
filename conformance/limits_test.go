package conformance

import (
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// TestPartitionsPerRequestCap: one CreateTopics request may not create more
// than 10,000 partitions (KRaft's per-request cap), so a tiny request cannot
// make a broker create millions of partitions. Nothing is created.
func TestPartitionsPerRequestCap(t *testing.T) {
	tg := newTarget(t, nil)
	ctx := testCtx(t, 30*time.Second)
	name := uniqueName(t, "huge")
	resp, err := tg.admin().CreateTopic(ctx, 10_001, 1, nil, name)
	if err != nil && !errors.Is(err, kerr.PolicyViolation) {
		t.Fatalf("create 10,001 partitions: %v", err)
	}
	if !errors.Is(resp.Err, kerr.PolicyViolation) {
		t.Fatalf("create 10,001 partitions: got %v, want POLICY_VIOLATION", resp.Err)
	}
	topics, err := tg.admin().ListTopics(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if topics.Has(name) && topics[name].Err == nil {
		t.Fatalf("topic %s exists after a refused creation", name)
	}
}
