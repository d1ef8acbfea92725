package run

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/highwater-io/highwater/nemesis"
)

// File names inside a run directory (ARCHITECTURE.md).
const (
	RunJSON      = "run.json"
	HistoryJSONL = "history.jsonl"
	NemesisJSONL = "nemesis.jsonl"
	SummaryTxt   = "summary.txt"
	ResultsJSON  = "results.json"
	ClusterDir   = "cluster"
	LogsDir      = "logs"
)

// DirName is a run directory's name: UTC start time (sortable, no colons)
// and the seed.
func DirName(start time.Time, seed int64) string {
	return start.UTC().Format("20060102T150405Z") + "-" + strconv.FormatInt(seed, 10)
}

// Dir is where a run of scenario with seed started at start lives.
func Dir(runsDir, scenario string, start time.Time, seed int64) string {
	return filepath.Join(runsDir, scenario, DirName(start, seed))
}

// ParseDirName reads the seed back from a run directory's name.
func ParseDirName(name string) (time.Time, int64, error) {
	ts, s, ok := strings.Cut(name, "-")
	if !ok {
		return time.Time{}, 0, fmt.Errorf("run: directory name %q: want <UTC time>-<seed>", name)
	}
	t, err := time.Parse("20060102T150405Z", ts)
	if err != nil {
		return time.Time{}, 0, fmt.Errorf("run: directory name %q: %w", name, err)
	}
	seed, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, 0, fmt.Errorf("run: directory name %q: %w", name, err)
	}
	return t, seed, nil
}

// Info is run.json: where the run came from and what it found.
type Info struct {
	Scenario string       `json:"scenario"`
	Seed     int64        `json:"seed"`
	Commit   string       `json:"commit,omitempty"`
	Start    time.Time    `json:"start"`
	End      time.Time    `json:"end,omitzero"`
	Cluster  string       `json:"cluster"`
	Nodes    []NodeInfo   `json:"nodes,omitempty"`
	Workload WorkloadInfo `json:"workload"`
	Faults   []string     `json:"faults"`
	// Unavailable lists faults the cluster cannot run, and why.
	Unavailable map[string]string `json:"unavailable,omitempty"`
	Schedule    string            `json:"schedule"`
	Replay      string            `json:"replay"`
	Converged   *bool             `json:"converged,omitempty"`
	Recovery    string            `json:"recovery,omitempty"`
	Drained     *bool             `json:"drained,omitempty"`
	Drain       string            `json:"drain,omitempty"`
	Figures     *Figures          `json:"figures,omitempty"`
	Verdict     string            `json:"verdict,omitempty"`
	Error       string            `json:"error,omitempty"`
}

// NodeInfo describes one node in run.json.
type NodeInfo struct {
	ID   int32  `json:"id"`
	Rack string `json:"rack,omitempty"`
	Addr string `json:"addr"`
	Log  string `json:"log,omitempty"`
}

// WorkloadInfo is the workload's knobs in run.json.
type WorkloadInfo struct {
	Kind              string  `json:"kind,omitempty"` // queue | txn | eos
	Topic             string  `json:"topic"`
	Partitions        int     `json:"partitions"`
	ReplicationFactor int     `json:"replication_factor,omitempty"`
	MinInsyncReplicas int     `json:"min_insync_replicas,omitempty"`
	Producers         int     `json:"producers"`
	AssignConsumers   int     `json:"assign_consumers"`
	GroupConsumers    int     `json:"group_consumers"`
	Readers           int     `json:"readers"`
	SendRatePerSec    float64 `json:"send_rate_per_sec"`
	ReadRatePerSec    float64 `json:"read_rate_per_sec"`
	RecordBytes       int     `json:"record_bytes"`
	Duration          string  `json:"duration"`
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("run: %w", err)
	}
	// Write then rename: run.json is rewritten as the run goes and must
	// never be seen half-written.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("run: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("run: %w", err)
	}
	return nil
}

// ReadInfo reads a run directory's run.json.
func ReadInfo(dir string) (Info, error) {
	var info Info
	b, err := os.ReadFile(filepath.Join(dir, RunJSON))
	if err != nil {
		return info, fmt.Errorf("run: %w", err)
	}
	if err := json.Unmarshal(b, &info); err != nil {
		return info, fmt.Errorf("run: %s: %w", RunJSON, err)
	}
	return info, nil
}

// scheduleLine is one line of nemesis.jsonl.
type scheduleLine struct {
	Seed     *int64 `json:"seed,omitempty"`
	Text     string `json:"schedule,omitempty"`
	At       string `json:"at,omitempty"`
	Duration string `json:"duration,omitempty"`
	Fault    string `json:"fault,omitempty"`
	Select   string `json:"select,omitempty"`
}

// writeSchedule writes nemesis.jsonl: a header line with the seed and the
// schedule's compact text (what nemesis.Parse reads back), then one line a
// step.
func writeSchedule(path string, s nemesis.Schedule) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("run: %w", err)
	}
	enc := json.NewEncoder(f)
	seed := s.Seed
	werr := enc.Encode(scheduleLine{Seed: &seed, Text: s.Compact()})
	for _, st := range s.Steps {
		if werr != nil {
			break
		}
		werr = enc.Encode(scheduleLine{At: st.At.String(), Duration: st.Duration.String(), Fault: st.Fault, Select: st.Select})
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return fmt.Errorf("run: %s: %w", NemesisJSONL, werr)
	}
	return nil
}

// gitCommit is HEAD of the checkout the process runs in, with "-dirty"
// when tracked files differ; empty outside a checkout.
func gitCommit(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "git", "rev-parse", "HEAD").Output()
	if err != nil {
		return ""
	}
	commit := strings.TrimSpace(string(out))
	if st, err := exec.CommandContext(ctx, "git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(strings.TrimSpace(string(st))) > 0 {
		commit += "-dirty"
	}
	return commit
}

// linkLogs links each node's log into dir/logs as node-<id>.log (a
// relative link when the log lives inside the run directory), or records
// the location in a text file when it is not a local path.
func linkLogs(runDir string, nodes []NodeInfo) error {
	logs := filepath.Join(runDir, LogsDir)
	if err := os.MkdirAll(logs, 0o755); err != nil {
		return fmt.Errorf("run: %w", err)
	}
	for _, n := range nodes {
		if n.Log == "" {
			continue
		}
		name := filepath.Join(logs, fmt.Sprintf("node-%d.log", n.ID))
		if _, err := os.Stat(n.Log); err != nil {
			if werr := os.WriteFile(name+".location", []byte(n.Log+"\n"), 0o644); werr != nil {
				return fmt.Errorf("run: %w", werr)
			}
			continue
		}
		target := n.Log
		if abs, err := filepath.Abs(n.Log); err == nil {
			target = abs
			if absLogs, err := filepath.Abs(logs); err == nil {
				if rel, err := filepath.Rel(absLogs, abs); err == nil && !strings.HasPrefix(rel, "..") {
					target = rel
				} else if rel, err := filepath.Rel(absLogs, abs); err == nil && strings.HasPrefix(filepath.Clean(abs), filepath.Clean(filepath.Dir(absLogs))) {
					target = rel
				}
			}
		}
		_ = os.Remove(name)
		if err := os.Symlink(target, name); err != nil {
			return fmt.Errorf("run: %w", err)
		}
	}
	return nil
}
