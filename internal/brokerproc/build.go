package brokerproc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// ErrNoModule means `go env GOMOD` did not name a go.mod, so the module root
// (and with it ./cmd/highwater) could not be found.
var ErrNoModule = errors.New("brokerproc: not inside a Go module")

// ModuleRoot returns the directory holding the go.mod of the module the
// current working directory belongs to.
func ModuleRoot(ctx context.Context) (string, error) {
	out, err := runGo(ctx, "", "env", "GOMOD")
	if err != nil {
		return "", err
	}
	gomod := strings.TrimSpace(out)
	if gomod == "" || gomod == os.DevNull {
		return "", ErrNoModule
	}
	return filepath.Dir(gomod), nil
}

// Build compiles ./cmd/highwater of the enclosing module into outDir and
// returns the binary's path.
func Build(ctx context.Context, outDir string) (binPath string, err error) {
	return BuildPackage(ctx, outDir, "./cmd/highwater", "highwater")
}

// BuildPackage compiles the main package pkg (a path relative to the module
// root, like "./cmd/highwater") into outDir/name.
func BuildPackage(ctx context.Context, outDir, pkg, name string) (binPath string, err error) {
	root, err := ModuleRoot(ctx)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return "", fmt.Errorf("brokerproc: build output dir: %w", err)
	}
	binPath, err = filepath.Abs(filepath.Join(outDir, name))
	if err != nil {
		return "", fmt.Errorf("brokerproc: build output path: %w", err)
	}
	if _, err := runGo(ctx, root, "build", "-o", binPath, pkg); err != nil {
		return "", err
	}
	return binPath, nil
}

func runGo(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("brokerproc: go %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}
