package sizing

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var rewrite = flag.Bool("rewrite", false, "rewrite the golden reports under testdata/")

// TestGoldenReports: the published example's report, as a user sees it.
// Regenerate with `go test ./sizing -run Golden -rewrite` and read the diff.
func TestGoldenReports(t *testing.T) {
	p := mustSize(t, ExampleWorkload(), mustCatalog(t), Options{})
	for _, tc := range []struct{ format, file string }{
		{"text", "example.txt"},
		{"markdown", "example.md"},
		{"json", "example.json"},
	} {
		t.Run(tc.format, func(t *testing.T) {
			var buf bytes.Buffer
			if err := Format(&buf, p, tc.format); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", tc.file)
			if *rewrite {
				if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -rewrite to create it)", err)
			}
			if !bytes.Equal(buf.Bytes(), want) {
				t.Errorf("%s report differs from %s (rerun with -rewrite and read the diff):\n%s", tc.format, path, buf.String())
			}
		})
	}
}

func TestJSONReportDecodes(t *testing.T) {
	w := ExampleWorkload()
	w.IngestMBps = 0.001 // leaves some loads at zero: "unbounded" headroom must still encode
	w.LaggingConsumersPercent, w.TieredStorage = 0, false
	p := mustSize(t, w, mustCatalog(t), Options{})
	var buf bytes.Buffer
	if err := FormatJSON(&buf, p); err != nil {
		t.Fatal(err)
	}
	var back Plan
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if back.InstanceType != p.InstanceType || back.Brokers != p.Brokers || back.Costs != p.Costs {
		t.Errorf("JSON round trip lost figures")
	}
}

func TestUnknownFormat(t *testing.T) {
	if err := Format(&bytes.Buffer{}, Plan{}, "html"); !errors.Is(err, ErrWorkload) {
		t.Errorf("err = %v", err)
	}
}

func TestGroup(t *testing.T) {
	for _, tc := range []struct {
		v    float64
		d    int
		want string
	}{{16706.25, 2, "16,706.25"}, {5274.44, 0, "5,274"}, {999, 0, "999"}, {-1234567.5, 1, "-1,234,567.5"}, {0, 2, "0.00"}} {
		if got := group(tc.v, tc.d); got != tc.want {
			t.Errorf("group(%v, %d) = %q, want %q", tc.v, tc.d, got, tc.want)
		}
	}
}
