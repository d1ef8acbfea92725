package kafka

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/highwater-io/highwater/harness/internal/portpick"
)

// Each bad environment must fail New with a clear error naming the cause
// and the fix, within a bounded time, leaving no process behind.

func newExpectErr(t *testing.T, cfg Config, within time.Duration) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	began := time.Now()
	c, err := New(ctx, cfg)
	if err == nil {
		_ = c.Close(ctx)
		t.Fatal("New succeeded")
	}
	if took := time.Since(began); took > within {
		t.Errorf("New took %v to fail, want under %v", took, within)
	}
	t.Logf("New failed after %v: %v", time.Since(began).Round(time.Millisecond), err)
	if cfg.Dir != "" {
		assertNoProcesses(t, cfg.Dir)
	}
	return err
}

func TestNoJava(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	t.Setenv("JAVA_HOME", "")
	err := newExpectErr(t, Config{Dir: t.TempDir()}, 5*time.Second)
	if !errors.Is(err, ErrNoJava) || !strings.Contains(err.Error(), "fix:") {
		t.Fatalf("want ErrNoJava with a fix, got %v", err)
	}
}

func TestNoMaven(t *testing.T) {
	requireKafka(t) // java must be there so the jar lookup is what fails
	t.Setenv("HIGHWATER_KAFKA_LIB", "")
	t.Setenv("HIGHWATER_CACHE", t.TempDir()) // nothing fetched yet
	t.Setenv("MVN", "mvn-not-installed")
	err := newExpectErr(t, Config{Dir: t.TempDir()}, 10*time.Second)
	if !errors.Is(err, ErrNoKafka) || !strings.Contains(err.Error(), "apt-get install -y maven") {
		t.Fatalf("want ErrNoKafka naming maven, got %v", err)
	}
}

func TestBadLibDir(t *testing.T) {
	err := newExpectErr(t, Config{Dir: t.TempDir(), Lib: t.TempDir()}, 5*time.Second)
	if !errors.Is(err, ErrNoKafka) {
		t.Fatalf("want ErrNoKafka, got %v", err)
	}
}

func TestPortInUse(t *testing.T) {
	requireKafka(t)
	// Hold the second node's client port.
	ports, err := portpick.Free(loopback, 1)
	if err != nil {
		t.Fatal(err)
	}
	base := ports[0] - 2
	ln, err := net.Listen("tcp", net.JoinHostPort(loopback, strconv.Itoa(ports[0])))
	if err != nil {
		t.Skipf("cannot hold port: %v", err)
	}
	defer ln.Close()
	err = newExpectErr(t, Config{Dir: t.TempDir(), BasePort: base}, 10*time.Second)
	if !errors.Is(err, ErrPortInUse) || !strings.Contains(err.Error(), strconv.Itoa(ports[0])) {
		t.Fatalf("want ErrPortInUse naming port %d, got %v", ports[0], err)
	}
}

func TestBrokenSetValueExits(t *testing.T) {
	requireKafka(t)
	dir := t.TempDir()
	err := newExpectErr(t, Config{Dir: dir, Nodes: 1, Set: map[string]string{"num.io.threads": "lots"}}, 90*time.Second)
	if !strings.Contains(err.Error(), "num.io.threads") {
		t.Fatalf("error does not name the bad key: %v", err)
	}
}

func TestNeverReady(t *testing.T) {
	requireKafka(t)
	// No JVM serves Kafka 300 ms after it starts.
	err := newExpectErr(t, Config{Dir: t.TempDir(), Nodes: 1, ReadyTimeout: 300 * time.Millisecond}, 45*time.Second)
	if !errors.Is(err, ErrNotReady) {
		t.Fatalf("want ErrNotReady, got %v", err)
	}
}

// TestServerExits: a value the storage tool accepts but the server rejects
// at start-up (an authorizer class that does not exist) is reported as the
// node exiting, with the cause quoted from its log.
func TestServerExits(t *testing.T) {
	requireKafka(t)
	err := newExpectErr(t, Config{Dir: t.TempDir(), Nodes: 1,
		Set: map[string]string{"authorizer.class.name": "com.example.NoSuchAuthorizer"}}, 90*time.Second)
	if !errors.Is(err, ErrExited) || !strings.Contains(err.Error(), "NoSuchAuthorizer") {
		t.Fatalf("want ErrExited quoting the class, got %v", err)
	}
}
