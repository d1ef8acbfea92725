package portpick

import (
	"fmt"
	"net"
)

// Pick returns n ports on host: base, base+1, ... when base is set
// (nothing is checked), else Free(host, n).
func Pick(host string, base, n int) ([]int, error) {
	if base <= 0 {
		return Free(host, n)
	}
	out := make([]int, n)
	for i := range out {
		out[i] = base + i
	}
	return out, nil
}

// Free asks the kernel for n distinct unused ports on host, holding them
// all open until every one is chosen so none repeats.
func Free(host string, n int) ([]int, error) {
	lns := make([]net.Listener, 0, n)
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	out := make([]int, 0, n)
	for range n {
		ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			return nil, fmt.Errorf("pick free port: %w", err)
		}
		lns = append(lns, ln)
		out = append(out, ln.Addr().(*net.TCPAddr).Port)
	}
	return out, nil
}
