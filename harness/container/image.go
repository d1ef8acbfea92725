package container

import (
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"time"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"

	"github.com/highwater-io/highwater/internal/brokerproc"
)

// ErrNoEngine means no container engine answers the Docker API where
// testcontainers-go will look (DOCKER_HOST, else /var/run/docker.sock).
var ErrNoEngine = errors.New("container: no container engine answers")

// SetupHint is what to do when ErrNoEngine comes back on a Linux host.
const SetupHint = "run scripts/podman-setup.sh as root, then export the DOCKER_HOST, " +
	"TESTCONTAINERS_RYUK_DISABLED=true and TESTCONTAINERS_HOST_OVERRIDE=127.0.0.1 it prints"

// engineProbeTimeout bounds the fail-fast engine check.
const engineProbeTimeout = 3 * time.Second

// BuildContext says how to prepare the reference broker's image build
// context (shared with bench's single-container target).
type BuildContext struct {
	// Binary is a static Linux highwater executable; when empty
	// PrepareBuildContext builds ./cmd/highwater of the enclosing module
	// with CGO_ENABLED=0.
	Binary string
	// Dockerfile is the image recipe; deploy/container/Dockerfile of the
	// enclosing module when empty.
	Dockerfile string
	// WorkDir is where the context directory is made; os.TempDir() when
	// empty.
	WorkDir string
}

// PrepareBuildContext fills a fresh directory under b.WorkDir with the
// Dockerfile, the static binary and rootfs/ (the data/ and tmp/ directories
// scratch lacks) and returns it; the caller removes it.
func PrepareBuildContext(ctx context.Context, b BuildContext) (string, error) {
	dir, err := os.MkdirTemp(b.WorkDir, "highwater-image-")
	if err != nil {
		return "", fmt.Errorf("container: build context: %w", err)
	}
	fail := func(err error) (string, error) {
		_ = os.RemoveAll(dir)
		return "", err
	}
	for _, d := range []string{"rootfs/data", "rootfs/tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return fail(fmt.Errorf("container: build context: %w", err))
		}
	}
	dockerfile := b.Dockerfile
	if dockerfile == "" {
		root, err := brokerproc.ModuleRoot(ctx)
		if err != nil {
			return fail(fmt.Errorf("container: find deploy/container/Dockerfile (run inside the module): %w", err))
		}
		dockerfile = filepath.Join(root, "deploy", "container", "Dockerfile")
	}
	if err := copyFile(dockerfile, filepath.Join(dir, "Dockerfile"), 0o644); err != nil {
		return fail(err)
	}
	bin := filepath.Join(dir, "highwater")
	if b.Binary != "" {
		if err := CheckStatic(b.Binary); err != nil {
			return fail(err)
		}
		err = copyFile(b.Binary, bin, 0o755)
	} else {
		err = buildStatic(ctx, bin)
	}
	if err != nil {
		return fail(err)
	}
	return dir, nil
}

// buildStatic compiles ./cmd/highwater without cgo, so it runs in an image
// with no libc.
func buildStatic(ctx context.Context, out string) error {
	root, err := brokerproc.ModuleRoot(ctx)
	if err != nil {
		return fmt.Errorf("container: build highwater for the image (run inside the module or set Binary): %w", err)
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/highwater")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("container: static build of highwater: %w\n%s", err, b)
	}
	return nil
}

// ErrNotStatic means a binary cannot run in the FROM scratch image.
var ErrNotStatic = errors.New("container: not a static Linux executable for this architecture")

// elfMachines maps GOARCH to the ELF machine the image's binary must be.
var elfMachines = map[string]elf.Machine{
	"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64, "386": elf.EM_386,
	"arm": elf.EM_ARM, "riscv64": elf.EM_RISCV, "ppc64le": elf.EM_PPC64, "s390x": elf.EM_S390,
}

// CheckStatic says whether path can run in the FROM scratch image: a
// Linux ELF for this machine's architecture with no program interpreter
// (no libc to load). A CLI built with CGO_ENABLED=0 can pass its own
// executable as BuildContext.Binary when this is nil.
func CheckStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrNotStatic, path, err)
	}
	defer f.Close()
	if want, ok := elfMachines[runtime.GOARCH]; ok && f.Machine != want {
		return fmt.Errorf("%w: %s is for %v, this host is %s", ErrNotStatic, path, f.Machine, runtime.GOARCH)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%w: %s is dynamically linked (build it with CGO_ENABLED=0)", ErrNotStatic, path)
		}
	}
	return nil
}

func copyFile(src, dst string, mode os.FileMode) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("container: build context: %w", err)
	}
	if err := os.WriteFile(dst, b, mode); err != nil {
		return fmt.Errorf("container: build context: %w", err)
	}
	return nil
}

// buildImage builds the image in contextDir once, tagged repo:tag, through
// testcontainers-go's provider; every node's container then runs it.
func buildImage(ctx context.Context, contextDir, repo, tag string, buildLog io.Writer) error {
	p, err := testcontainers.NewDockerProvider(testcontainers.WithLogger(tclog.NewNoopLogger()))
	if err != nil {
		return fmt.Errorf("container: engine: %w", err)
	}
	defer p.Close()
	if buildLog == nil {
		buildLog = io.Discard
	}
	req := &testcontainers.ContainerRequest{FromDockerfile: testcontainers.FromDockerfile{
		Context: contextDir, Dockerfile: "Dockerfile", Repo: repo, Tag: tag,
		KeepImage: true, BuildLogWriter: buildLog,
	}}
	if _, err := p.BuildImage(ctx, req); err != nil {
		return fmt.Errorf("container: build image %s:%s: %w", repo, tag, err)
	}
	return nil
}

// removeImage deletes an image this package built.
func removeImage(ctx context.Context, api *testcontainers.DockerClient, ref string) error {
	if _, err := api.ImageRemove(ctx, ref, client.ImageRemoveOptions{Force: true, PruneChildren: true}); err != nil {
		return fmt.Errorf("container: remove image %s: %w", ref, err)
	}
	return nil
}

// CheckEngine fails fast, with ErrNoEngine and SetupHint, when the Docker
// API testcontainers-go would use does not answer a ping.
func CheckEngine(ctx context.Context) error {
	host := EngineHost()
	u, err := url.Parse(host)
	if err != nil {
		return fmt.Errorf("%w: DOCKER_HOST %q: %w; %s", ErrNoEngine, host, err, SetupHint)
	}
	tr := &http.Transport{}
	base := "http://engine"
	switch u.Scheme {
	case "unix":
		path := u.Path
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}
	case "tcp", "http":
		base = "http://" + u.Host
	default:
		// https and ssh engines need credentials this check does not
		// handle; let testcontainers-go try.
		return nil
	}
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(ctx, engineProbeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/_ping", nil)
	if err != nil {
		return fmt.Errorf("%w at %s: %w; %s", ErrNoEngine, host, err, SetupHint)
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return fmt.Errorf("%w at %s: %w; %s", ErrNoEngine, host, err, SetupHint)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%w at %s: /_ping answered %s; %s", ErrNoEngine, host, resp.Status, SetupHint)
	}
	return nil
}

// EngineHost is where testcontainers-go's Docker client connects when
// DOCKER_HOST is set, else the Docker default socket.
func EngineHost() string {
	if h := os.Getenv("DOCKER_HOST"); h != "" {
		return h
	}
	return "unix:///var/run/docker.sock"
}
