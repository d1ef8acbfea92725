package kafka

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// Environment errors; each concrete error names the cause and the fix.
var (
	ErrNoJava    = errors.New("kafka: java not found")
	ErrNoKafka   = errors.New("kafka: Kafka jars not available")
	ErrPortInUse = errors.New("kafka: port already in use")
)

// fetchScript is the project's idempotent jar fetcher, relative to the
// module root.
const fetchScript = "conformance/java/fetch.sh"

// findJava resolves the java executable.
func findJava(configured string) (string, error) {
	if configured != "" {
		p, err := exec.LookPath(configured)
		if err != nil {
			return "", fmt.Errorf("%w: %q: %w (fix: point Config.Java at a JDK 17+ java)", ErrNoJava, configured, err)
		}
		return p, nil
	}
	if home := os.Getenv("JAVA_HOME"); home != "" {
		p := filepath.Join(home, "bin", "java")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	p, err := exec.LookPath("java")
	if err != nil {
		return "", fmt.Errorf("%w on PATH or in $JAVA_HOME (fix: apt-get install -y openjdk-17-jre-headless, or set JAVA_HOME to a JDK 17+)", ErrNoJava)
	}
	return p, nil
}

// findLib resolves the jar directory: configured, $HIGHWATER_KAFKA_LIB, or
// the output of the project's fetch.sh (which runs Maven only once).
func findLib(ctx context.Context, configured string) (string, error) {
	lib := configured
	if lib == "" {
		lib = os.Getenv("HIGHWATER_KAFKA_LIB")
	}
	if lib != "" {
		if err := checkLib(lib); err != nil {
			return "", err
		}
		return lib, nil
	}
	script, err := findFetchScript()
	if err != nil {
		// Outside a checkout, a cache an earlier fetch filled still serves.
		if cached := cachedLib(); cached != "" {
			return cached, nil
		}
		return "", err
	}
	cmd := exec.CommandContext(ctx, "bash", script)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		fix := "check that Maven Central is reachable"
		if strings.Contains(msg, "mvn) not found") {
			fix = "apt-get install -y maven, or set HIGHWATER_KAFKA_LIB to a directory of Kafka 4.x jars"
		}
		return "", fmt.Errorf("%w: %s failed: %v: %s (fix: %s)", ErrNoKafka, script, err, lastLines(msg, 10), fix)
	}
	lib = strings.TrimSpace(lastLines(stdout.String(), 1))
	if err := checkLib(lib); err != nil {
		return "", err
	}
	return lib, nil
}

// cachedLib is the newest complete lib/ directory fetch.sh left in its
// cache ($HIGHWATER_CACHE, default ~/.cache/highwater), or "".
func cachedLib() string {
	cache := os.Getenv("HIGHWATER_CACHE")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return ""
		}
		cache = filepath.Join(home, ".cache", "highwater")
	}
	// fetch.sh writes the stamp only after a complete copy.
	stamps, _ := filepath.Glob(filepath.Join(cache, "kafka-*", ".pom.sha256"))
	slices.Sort(stamps) // lexical: good enough to prefer 4.1.x over 4.0.x
	for i := len(stamps) - 1; i >= 0; i-- {
		lib := filepath.Join(filepath.Dir(stamps[i]), "lib")
		if checkLib(lib) == nil {
			return lib
		}
	}
	return ""
}

func checkLib(lib string) error {
	jars, _ := filepath.Glob(filepath.Join(lib, "kafka_2.13-*.jar"))
	if len(jars) == 0 {
		return fmt.Errorf("%w: no kafka_2.13-*.jar in %s (fix: run %s, or point HIGHWATER_KAFKA_LIB at its output)", ErrNoKafka, lib, fetchScript)
	}
	return nil
}

// findFetchScript looks for fetch.sh in the working directory and its
// parents (a checkout of the project), then next to the running binary.
func findFetchScript() (string, error) {
	var starts []string
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	if exe, err := os.Executable(); err == nil {
		starts = append(starts, filepath.Dir(exe))
	}
	for _, dir := range starts {
		for {
			p := filepath.Join(dir, fetchScript)
			if _, err := os.Stat(p); err == nil {
				return p, nil
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				break
			}
			dir = parent
		}
	}
	return "", fmt.Errorf("%w: %s not found above the working directory (fix: run from a highwater checkout, or set HIGHWATER_KAFKA_LIB to a directory of Kafka 4.x jars)", ErrNoKafka, fetchScript)
}

// checkPortsFree fails with ErrPortInUse naming the first port something
// already listens on.
func checkPortsFree(addrs []nodeAddr) error {
	for _, a := range addrs {
		for _, hp := range []string{a.client(), a.ctrl()} {
			ln, err := net.Listen("tcp", hp)
			if err != nil {
				return fmt.Errorf("%w: %s: %v (fix: stop what listens there, pick another --base-port, or use 0 for free ports)", ErrPortInUse, hp, err)
			}
			ln.Close()
		}
	}
	return nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// causeLines keeps the first n lines of JVM output that say something:
// exception messages rather than their stack frames.
func causeLines(out string, n int) string {
	var keep []string
	for _, l := range strings.Split(out, "\n") {
		t := strings.TrimSpace(l)
		if t == "" || strings.HasPrefix(t, "at ") || strings.HasPrefix(t, "...") {
			continue
		}
		if keep = append(keep, t); len(keep) == n {
			break
		}
	}
	return strings.Join(keep, "\n")
}
