package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runCheck runs `highwater check` on a copy of a kept history and returns
// the exit status it would give and what it printed.
func runCheck(t *testing.T, history string) (int, string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "checker", "testdata", history))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "history.jsonl"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := checkCommand()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs([]string{dir})
	err = cmd.Execute()
	for _, f := range []string{"results.json", "summary.txt", "report.html"} {
		if _, statErr := os.Stat(filepath.Join(dir, f)); statErr != nil && !strings.Contains(out.String(), "could not") {
			t.Errorf("%s not written: %v", f, statErr)
		}
	}
	var exit exitError
	switch {
	case err == nil:
		return 0, out.String()
	case errors.As(err, &exit):
		return exit.code, out.String()
	}
	t.Fatalf("unexpected error %v", err)
	return -1, ""
}

func TestCheckExitStatusFollowsVerdict(t *testing.T) {
	if code, out := runCheck(t, "lost-write.jsonl"); code != 1 || !strings.Contains(out, "lost-write") {
		t.Errorf("lost-write history: exit %d, output:\n%s", code, out)
	}
	if code, out := runCheck(t, "valid.jsonl"); code != 0 || !strings.Contains(out, "VALID") {
		t.Errorf("valid history: exit %d, output:\n%s", code, out)
	}
}

func TestCheckUnreadableHistory(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "history.jsonl"), []byte("not json\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := checkCommand()
	cmd.SetOut(&bytes.Buffer{})
	cmd.SetErr(&bytes.Buffer{})
	cmd.SetArgs([]string{dir})
	var exit exitError
	if err := cmd.Execute(); !errors.As(err, &exit) || exit.code != 3 {
		t.Errorf("unreadable history: got %v, want exit status 3", err)
	}
}

// TestStrictHWAndReport: --strict-hw turns the kept stale-HW history
// invalid, and highwater report re-renders report.html from the results.
func TestStrictHWAndReport(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "checker", "testdata", "stale-hw-after-failover.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "history.jsonl"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want int
	}{{[]string{dir}, 0}, {[]string{"--strict-hw", dir}, 1}} {
		cmd := checkCommand()
		var out bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		cmd.SetArgs(c.args)
		err := cmd.Execute()
		code := 0
		var exit exitError
		if errors.As(err, &exit) {
			code = exit.code
		}
		if code != c.want {
			t.Errorf("check %v: exit %d, want %d:\n%s", c.args, code, c.want, out.String())
		}
	}
	if err := os.Remove(filepath.Join(dir, "report.html")); err != nil {
		t.Fatal(err)
	}
	cmd := reportCommand()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetArgs([]string{dir})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile(filepath.Join(dir, "report.html"))
	if err != nil || !strings.Contains(string(page), "not-linearizable") {
		t.Fatalf("report.html after a strict check: %v", err)
	}
}
