package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseScenarioFile(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      string
		wantErr string // substring; "" means no error
		check   func(t *testing.T, sf scenarioFile)
	}{
		{name: "empty", in: "", check: func(t *testing.T, sf scenarioFile) {
			if !reflect.DeepEqual(sf, scenarioFile{}) {
				t.Errorf("got %+v, want zero", sf)
			}
		}},
		{name: "values", in: "name: s1\nimpl: kfake\nnodes: 0\nduration: 1m30s\nrate: 12.5\nnetns: true\nfaults: kill,pause\nset: {a.b: \"1\"}\nseed: 42\n",
			check: func(t *testing.T, sf scenarioFile) {
				if *sf.Name != "s1" || *sf.Impl != "kfake" || *sf.Nodes != 0 || *sf.Duration != 90*time.Second ||
					*sf.Rate != 12.5 || !*sf.NetNS || *sf.Faults != "kill,pause" || sf.Set["a.b"] != "1" || *sf.Seed != 42 {
					t.Errorf("got %+v", sf)
				}
				if sf.Partitions != nil {
					t.Errorf("absent key partitions decoded as %d", *sf.Partitions)
				}
			}},
		{name: "faults as a list", in: "faults: [kill, pause]\n", check: func(t *testing.T, sf scenarioFile) {
			if sf.Faults == nil || *sf.Faults != "kill,pause" {
				t.Errorf("faults = %v", sf.Faults)
			}
		}},
		{name: "faults list of maps", in: "faults: [{a: 1}]\n", wantErr: "scenario file"},
		{name: "unknown key", in: "name: s1\nbogus-key: 3\n", wantErr: "bogus-key"},
		{name: "flag spelling only", in: "min_insync_replicas: 2\n", wantErr: "min_insync_replicas"},
		{name: "bad duration", in: "duration: soon\n", wantErr: "soon"},
		{name: "comments only", in: "# nothing yet\n---\n", check: func(t *testing.T, sf scenarioFile) {
			if !reflect.DeepEqual(sf, scenarioFile{}) {
				t.Errorf("got %+v, want zero", sf)
			}
		}},
		{name: "bad type", in: "nodes: three\n", wantErr: "three"},
		{name: "not a mapping", in: "- a\n- b\n", wantErr: "scenario file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sf, err := parseScenarioFile([]byte(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, errScenarioFile) {
					t.Fatalf("err = %v, want errScenarioFile naming %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, sf)
		})
	}
}

// chaosFlagsFor parses args with the chaos command's flag set and returns
// the flags and which were given.
func chaosFlagsFor(t *testing.T, args ...string) (chaosFlags, func(string) bool) {
	t.Helper()
	cmd, f := newChaosCommand()
	if err := cmd.ParseFlags(args); err != nil {
		t.Fatal(err)
	}
	return *f, cmd.Flags().Changed
}

func TestMergeScenarioFile(t *testing.T) {
	file := "name: fromfile\nimpl: kfake\nnodes: 1\npartitions: 8\nduration: 7s\nfaults: kill\nset: {a: file, b: file}\n"
	for _, tc := range []struct {
		name     string
		args     []string
		wantSeed bool
		want     func(f chaosFlags) string // "" when f is as expected
	}{
		{name: "file fills defaults", want: func(f chaosFlags) string {
			if f.scenario != "fromfile" || f.impl != "kfake" || f.nodes != 1 || f.partitions != 8 ||
				f.duration != 7*time.Second || f.faults != "kill" || f.producers != 4 {
				return "file values not applied"
			}
			return ""
		}},
		{name: "explicit flags win", args: []string{"--partitions", "2", "--impl", "reference", "--duration", "3s", "--seed", "9"}, wantSeed: true,
			want: func(f chaosFlags) string {
				if f.partitions != 2 || f.impl != "reference" || f.duration != 3*time.Second || f.seed != 9 || f.nodes != 1 {
					return "flags did not win"
				}
				return ""
			}},
		{name: "nemesis flag beats file faults", args: []string{"--nemesis", "pause"}, want: func(f chaosFlags) string {
			if f.nemesis != "pause" || f.faults != "" {
				return "faults from file overrode --nemesis"
			}
			return ""
		}},
		{name: "set merges, flag wins per key", args: []string{"--set", "b=flag"}, want: func(f chaosFlags) string {
			if !reflect.DeepEqual(f.set, []string{"a=file", "b=file", "b=flag"}) {
				return "set = " + strings.Join(f.set, " ")
			}
			return ""
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sf, err := parseScenarioFile([]byte(file))
			if err != nil {
				t.Fatal(err)
			}
			f, changed := chaosFlagsFor(t, tc.args...)
			if got := mergeScenarioFile(&f, sf, changed); got != tc.wantSeed {
				t.Errorf("seedSet = %v, want %v", got, tc.wantSeed)
			}
			if msg := tc.want(f); msg != "" {
				t.Errorf("%s: %+v", msg, f)
			}
		})
	}
}

// runChaosCmd runs `highwater chaos args...` and returns its stdout.
func runChaosCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := chaosCommand()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

func TestPrintScenarioRoundTrip(t *testing.T) {
	for _, args := range [][]string{
		{"--impl", "kfake", "--faults", "none", "--seed", "5"},
		{"--workload", "txn", "--nodes", "3", "--faults", "kill,pause", "--set", "x=1", "--seed", "-3", "--mean-quiet", "2s", "--acks", "1"},
		{"--impl", "address", "--bootstrap", "127.0.0.1:9092", "--schedule", "kill@1s+2s", "--recovery-timeout", "90s", "--seed", "1"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			first, err := runChaosCmd(t, append(args, "--print-scenario")...)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "s.yaml")
			if err := os.WriteFile(path, []byte(first), 0o644); err != nil {
				t.Fatal(err)
			}
			second, err := runChaosCmd(t, "--file", path, "--print-scenario")
			if err != nil {
				t.Fatal(err)
			}
			if first != second {
				t.Errorf("round trip differs:\n%s\n---\n%s", first, second)
			}
		})
	}
}

func TestScenarioFileUnknownKeyFromCommand(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.yaml")
	if err := os.WriteFile(path, []byte("impl: kfake\nprodcers: 3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := runChaosCmd(t, "--file", path, "--print-scenario")
	if err == nil || !strings.Contains(err.Error(), "prodcers") || !strings.Contains(err.Error(), path) {
		t.Fatalf("err = %v, want one naming the key and the file", err)
	}
}
