//go:build linux

package brokerproc

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	envHelper       = "BROKERPROC_TEST_HELPER"
	envHelperBinary = "BROKERPROC_TEST_BINARY"
	envHelperDir    = "BROKERPROC_TEST_DIR"
)

// TestHelperStartAndHang is not a test: run as a child (see
// TestBrokerDiesWithParent) it starts a broker, prints its pid and hangs.
func TestHelperStartAndHang(t *testing.T) {
	if os.Getenv(envHelper) != "1" {
		t.Skip("helper process only")
	}
	n, err := Start(context.Background(), Options{Binary: os.Getenv(envHelperBinary), DataDir: os.Getenv(envHelperDir)})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	fmt.Println("pid", n.PID())
	time.Sleep(time.Minute)
	os.Exit(0)
}

// TestBrokerDiesWithParent: SIGKILLing the process that started a broker
// (a crashed test binary) takes the broker down too (Pdeathsig).
func TestBrokerDiesWithParent(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperStartAndHang$", "-test.v")
	cmd.Env = append(os.Environ(), envHelper+"=1", envHelperBinary+"="+fakeBinary, envHelperDir+"="+t.TempDir())
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	pid := 0
	sc := bufio.NewScanner(out)
	for pid == 0 && sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "pid "); ok {
			pid, _ = strconv.Atoi(rest)
		}
		if strings.HasPrefix(sc.Text(), "error") {
			t.Fatal(sc.Text())
		}
	}
	if pid == 0 {
		t.Fatal("helper printed no broker pid")
	}
	if !alive(pid) {
		t.Fatal("broker not running while its parent lives")
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			_ = signalGroup(pid, 9)
			t.Fatalf("broker pid %d outlived its parent", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// alive reports whether pid exists and is not a zombie (an orphaned zombie
// may linger where PID 1 does not reap, but it holds no port or files).
func alive(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name.
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || (s[i+2] != 'Z' && s[i+2] != 'X')
}
