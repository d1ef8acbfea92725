package reports

import (
	"context"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRunReportInChromium renders a sample run's report.html in headless
// Chromium through scripts/report-screenshot.sh and checks that the page
// painted (the screenshot is not blank) and that the DOM Chromium built
// holds both timeline plots with their fault shading. Skipped without
// Chromium unless HIGHWATER_REQUIRE_CLIENTS=1 (make test installs it
// through conformance/deps.sh).
func TestRunReportInChromium(t *testing.T) {
	if _, err := exec.LookPath("chromium"); err != nil {
		if _, err2 := exec.LookPath("chromium-browser"); err2 != nil {
			if os.Getenv("HIGHWATER_REQUIRE_CLIENTS") == "1" {
				t.Fatal("chromium not installed (make deps installs it)")
			}
			t.Skip("chromium not installed (apt-get install chromium, or make deps)")
		}
	}
	script, err := filepath.Abs(filepath.Join("..", "scripts", "report-screenshot.sh"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeSampleRun(t, dir, true)
	if err := WriteRunReport(dir); err != nil {
		t.Fatal(err)
	}
	shot, dom := filepath.Join(dir, "report.png"), filepath.Join(dir, "report.dom.html")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", script, filepath.Join(dir, RunReportFile), shot, dom)
	cmd.Env = append(os.Environ(), "HIGHWATER_SCREENSHOT_SIZE=1200,2000")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", script, err, out)
	}

	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	b := img.Bounds()
	colours := map[[3]uint32]bool{}
	inked := 0
	for y := b.Min.Y; y < b.Max.Y; y += 2 {
		for x := b.Min.X; x < b.Max.X; x += 2 {
			r, g, bl, _ := img.At(x, y).RGBA()
			colours[[3]uint32{r >> 8, g >> 8, bl >> 8}] = true
			if r>>8 < 235 || g>>8 < 235 || bl>>8 < 235 {
				inked++
			}
		}
	}
	total := (b.Dx() / 2) * (b.Dy() / 2)
	if len(colours) < 30 || inked*100 < total {
		t.Fatalf("screenshot looks blank: %d colours, %d of %d sampled pixels inked", len(colours), inked, total)
	}

	page, err := os.ReadFile(dom)
	if err != nil {
		t.Fatal(err)
	}
	d := string(page)
	if n := strings.Count(d, "<svg"); n != 2 {
		t.Errorf("DOM holds %d svg plots, want 2", n)
	}
	for _, m := range []string{"Throughput over time", "Send latency over time", `class="fault"`, `class="ackgap"`, "<polyline", `href="linearizability/t-0.html"`} {
		if !strings.Contains(d, m) {
			t.Errorf("DOM lacks %q", m)
		}
	}
}
