package checker

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/highwater-io/highwater/history"
)

// FuzzCheck: any history the reader accepts is judged without panicking,
// and a verdict of valid never comes with anomalies.
func FuzzCheck(f *testing.F) {
	paths, _ := filepath.Glob(filepath.Join("testdata", "*.jsonl"))
	for _, p := range paths {
		if data, err := os.ReadFile(p); err == nil {
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := history.Read(bytes.NewReader(data))
		if err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s := Run(ctx, h, &Queue{}, &Linearizability{Timeout: 2 * time.Second, OutDir: t.TempDir(), slotTarget: 1})
		for _, r := range s.Results {
			if r.Valid == Valid && len(r.Anomalies) > 0 {
				t.Fatalf("%s valid with anomalies: %+v", r.Checker, r.Anomalies)
			}
		}
	})
}
