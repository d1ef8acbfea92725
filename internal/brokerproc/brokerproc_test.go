package brokerproc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// fakeBinary is the kfake stand-in built once by TestMain; these tests
// exercise process management, not broker behaviour.
var fakeBinary string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "brokerproc-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	fakeBinary, err = BuildPackage(ctx, dir, "./internal/brokerproc/kfakebroker", "kfakebroker")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

func startFake(t *testing.T, props map[string]string) *Node {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var log strings.Builder
	n, err := Start(ctx, Options{Binary: fakeBinary, DataDir: t.TempDir(), Properties: props, Stderr: &lockedWriter{w: &log}})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = n.Kill() })
	return n
}

func probe(addr string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return Probe(ctx, addr)
}

func TestStartStop(t *testing.T) {
	n := startFake(t, nil)
	if n.PID() == 0 || !n.Running() {
		t.Fatal("want a running process after Start")
	}
	if err := probe(n.Addr(), 5*time.Second); err != nil {
		t.Fatalf("probe after Start: %v", err)
	}
	props, err := os.ReadFile(filepath.Join(n.DataDir(), "server.properties"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"node.id=1\n", "listeners=PLAINTEXT://" + n.Addr() + "\n", "log.dirs=" + n.DataDir()} {
		if !strings.Contains(string(props), want) {
			t.Errorf("server.properties lacks %q:\n%s", want, props)
		}
	}
	if err := n.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if n.Running() || n.PID() != 0 {
		t.Fatal("process still running after Stop")
	}
	if err := probe(n.Addr(), time.Second); err == nil {
		t.Fatal("listener still answers after Stop")
	}
	if err := n.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
}

// TestRestartKeepsPortAndData: the identity of a node (port, data dir)
// survives both a graceful stop and a SIGKILL.
func TestRestartKeepsPortAndData(t *testing.T) {
	n := startFake(t, nil)
	addr := n.Addr()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 2, 1, nil, "kept"); err != nil {
		t.Fatalf("create topic: %v", err)
	}
	if err := n.Restart(ctx); err != nil {
		t.Fatalf("Restart: %v", err)
	}
	if n.Addr() != addr {
		t.Fatalf("address changed across restart: %s -> %s", addr, n.Addr())
	}
	topics, err := adm.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !topics.Has("kept") {
		t.Fatalf("topic lost across graceful restart: %v", topics.Names())
	}
	pid := n.PID()
	if err := n.Kill(); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	if n.Running() {
		t.Fatal("running after Kill")
	}
	var exitErr interface{ Sys() any }
	if err := n.ExitErr(); !errors.As(err, &exitErr) {
		t.Fatalf("ExitErr after Kill = %v, want a signal exit", err)
	}
	if err := n.Restart(ctx); err != nil {
		t.Fatalf("Restart after Kill: %v", err)
	}
	if n.PID() == pid {
		t.Fatal("same pid after restart")
	}
}

func TestPauseResume(t *testing.T) {
	n := startFake(t, nil)
	if err := n.Pause(); err != nil {
		t.Fatalf("Pause: %v", err)
	}
	if err := probe(n.Addr(), 300*time.Millisecond); err == nil {
		t.Fatal("a paused broker answered")
	}
	if err := n.Resume(); err != nil {
		t.Fatalf("Resume: %v", err)
	}
	if err := probe(n.Addr(), 5*time.Second); err != nil {
		t.Fatalf("probe after Resume: %v", err)
	}
	// Stop must work on a paused process too.
	if err := n.Pause(); err != nil {
		t.Fatal(err)
	}
	if err := n.Stop(); err != nil {
		t.Fatalf("Stop while paused: %v", err)
	}
	if err := n.Pause(); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("Pause on stopped node = %v, want ErrNotRunning", err)
	}
}

func TestStartFailureQuotesOutput(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := Start(ctx, Options{
		Binary:     fakeBinary,
		DataDir:    t.TempDir(),
		Properties: map[string]string{"num.partitions": "not-a-number"},
	})
	if !errors.Is(err, ErrExited) {
		t.Fatalf("Start = %v, want ErrExited", err)
	}
	if !strings.Contains(err.Error(), "num.partitions") {
		t.Fatalf("error does not quote the broker's output: %v", err)
	}
}

func TestExtraArgs(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := Start(ctx, Options{
		Binary:    fakeBinary,
		DataDir:   t.TempDir(),
		ExtraArgs: []string{"--override", "num.partitions=seven"},
	})
	if !errors.Is(err, ErrExited) || !strings.Contains(err.Error(), "seven") {
		t.Fatalf("Start with a bad --override = %v, want ErrExited quoting it", err)
	}
}

func TestStartTimeout(t *testing.T) {
	// /bin/sleep ignores its arguments' meaning but never listens: Start
	// must give up after ReadyTimeout and leave nothing running.
	script := filepath.Join(t.TempDir(), "never-ready")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nexec sleep 60\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := Start(ctx, Options{Binary: script, DataDir: t.TempDir(), ReadyTimeout: 500 * time.Millisecond})
	if !errors.Is(err, ErrNotReady) {
		t.Fatalf("Start = %v, want ErrNotReady", err)
	}
}

func TestStopTimeoutKills(t *testing.T) {
	// A "broker" that answers nothing and ignores SIGTERM: Start cannot
	// succeed, so drive the node directly. It touches a file once its trap
	// is installed, so a loaded machine cannot make the test race it.
	dir := t.TempDir()
	trapped := filepath.Join(dir, "trapped")
	script := filepath.Join(dir, "stubborn")
	body := "#!/bin/sh\ntrap '' TERM\ntouch " + trapped + "\nwhile :; do sleep 1; done\n"
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	n := newNode(Options{Binary: script, DataDir: t.TempDir(), Host: DefaultHost, Port: 1,
		ReadyTimeout: 200 * time.Millisecond, StopTimeout: 300 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := n.writeProperties(); err != nil {
		t.Fatal(err)
	}
	if err := n.start(ctx); err == nil {
		t.Fatal("start succeeded against a non-listener")
	}
	if n.Running() {
		t.Fatal("failed start left the process running")
	}
	// Start it by hand again and check Stop escalates.
	_ = os.Remove(trapped)
	n.opts.ReadyTimeout = time.Hour
	go func() { _ = n.start(context.Background()) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := os.Stat(trapped); err == nil && n.PID() != 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("stubborn script never started")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := n.Stop(); !errors.Is(err, ErrStopTimeout) {
		t.Fatalf("Stop = %v, want ErrStopTimeout", err)
	}
	if n.Running() {
		t.Fatal("still running after Stop escalated")
	}
}

func TestFormatProperties(t *testing.T) {
	tests := []struct {
		props map[string]string
		want  string
	}{
		{map[string]string{"b": "2", "a": "1"}, "a=1\nb=2\n"},
		{map[string]string{"listeners": "PLAINTEXT://127.0.0.1:9092"}, "listeners=PLAINTEXT://127.0.0.1:9092\n"},
		{map[string]string{"k": `C:\dir`}, "k=C:\\\\dir\n"},
		{map[string]string{"k": " lead"}, "k=\\ lead\n"},
		{map[string]string{"k=x": "v\nw"}, "k\\=x=v\\nw\n"},
		{map[string]string{"k": ""}, "k=\n"},
	}
	for _, tt := range tests {
		got := string(FormatProperties(tt.props))
		got = strings.TrimPrefix(got, "# written by brokerproc\n")
		if got != tt.want {
			t.Errorf("FormatProperties(%q) = %q, want %q", tt.props, got, tt.want)
		}
	}
}

func TestTailBuffer(t *testing.T) {
	tb := newTailBuffer(16)
	fmt.Fprint(tb, "line1\nline2\nline3\nline4\n")
	if got := tb.LastLines(2); got != "line3\nline4" {
		t.Errorf("LastLines(2) = %q", got)
	}
	if got := tb.LastLines(10); !strings.HasSuffix(got, "line4") || len(got) > 16 {
		t.Errorf("LastLines(10) = %q, want at most 16 bytes ending in line4", got)
	}
}

func TestBadOptions(t *testing.T) {
	for _, o := range []Options{{}, {Binary: "x"}, {DataDir: "x"}, {Binary: "x", DataDir: t.TempDir(), Port: -1}} {
		if _, err := Start(context.Background(), o); !errors.Is(err, ErrBadOptions) {
			t.Errorf("Start(%+v) = %v, want ErrBadOptions", o, err)
		}
	}
}
