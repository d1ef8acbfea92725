package checker

import (
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/highwater-io/highwater/history"
)

var update = flag.Bool("update", false, "rewrite checker/testdata/*.jsonl from the hand-written cases")

// Each testdata history names what it must be judged in its header:
// params "verdict" (valid|invalid|unknown) and "expect", the anomaly types
// (checker:type, comma separated) that must be reported.
func TestTestdataHistories(t *testing.T) {
	if *update {
		writeTestdata(t)
	}
	paths, err := filepath.Glob(filepath.Join("testdata", "*.jsonl"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no testdata histories (%v); run go test -run TestTestdataHistories -update", err)
	}
	for _, path := range paths {
		t.Run(filepath.Base(path), func(t *testing.T) {
			out := t.TempDir()
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			s, err := Check(ctx, path, out)
			if err != nil {
				t.Fatal(err)
			}
			h, err := history.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			if want := h.Header.Params["verdict"]; s.Valid.String() != want {
				t.Fatalf("verdict %s, want %s:\n%s", s.Valid, want, s.Text())
			}
			got := map[string]bool{}
			for _, r := range s.Results {
				for typ := range r.Counts {
					got[r.Checker+":"+typ] = true
				}
			}
			for _, want := range strings.Split(h.Header.Params["expect"], ",") {
				if want != "" && !got[want] {
					t.Errorf("missing %s; got %v", want, keys(got))
				}
			}
			checkOutputs(t, out, s)
		})
	}
}

// checkOutputs verifies results.json round-trips and artifacts exist.
func checkOutputs(t *testing.T, out string, s Summary) {
	t.Helper()
	js, err := os.ReadFile(filepath.Join(out, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var back Summary
	if err := json.Unmarshal(js, &back); err != nil {
		t.Fatalf("results.json: %v", err)
	}
	if back.Valid != s.Valid || len(back.Results) != len(s.Results) {
		t.Fatalf("results.json does not round-trip")
	}
	txt, err := os.ReadFile(filepath.Join(out, "summary.txt"))
	if err != nil || !strings.Contains(string(txt), "verdict: "+strings.ToUpper(s.Valid.String())) {
		t.Fatalf("summary.txt: %v\n%s", err, txt)
	}
	for _, r := range s.Results {
		for _, a := range r.Anomalies {
			if a.Artifact == "" {
				continue
			}
			if st, err := os.Stat(filepath.Join(out, a.Artifact)); err != nil || st.Size() == 0 {
				t.Errorf("artifact %s: %v", a.Artifact, err)
			}
		}
	}
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func writeTestdata(t *testing.T) {
	write := func(name string, build func(*hb), verdict string) {
		t.Helper()
		probe := newHB(t)
		build(probe)
		s := runAll(t, probe.history(), "")
		var expect []string
		for _, r := range s.Results {
			for typ := range r.Counts {
				expect = append(expect, r.Checker+":"+typ)
			}
		}
		sort.Strings(expect)
		b := newHBHeader(t, history.Header{Scenario: name, Seed: 1, Params: map[string]string{
			"verdict": verdict, "expect": strings.Join(expect, ","),
		}})
		build(b)
		if err := os.WriteFile(filepath.Join("testdata", name+".jsonl"), b.bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll("testdata", 0o755); err != nil {
		t.Fatal(err)
	}
	write("valid", buildValid, "valid")
	for _, c := range anomalyCases {
		write(c.name, c.build, "invalid")
	}
}
