package wire

import (
	"encoding/binary"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

var writeSeeds = flag.Bool("write-seeds", false, "regenerate testdata/fuzz/{FuzzRequest,FuzzRequestStream} seed files")

// TestWriteFuzzSeeds regenerates the committed seed corpora (with
// -write-seeds): every seed request whole, truncated and bit-flipped, for
// FuzzRequest; size-prefixed, doubled and with bad size prefixes for
// FuzzRequestStream. The fuzz targets also add the same seeds at run time,
// so a newly registered API key is covered before the files are rewritten.
func TestWriteFuzzSeeds(t *testing.T) {
	if !*writeSeeds {
		t.Skip("run with -write-seeds to regenerate the seed corpora")
	}
	single := map[string][]byte{}
	stream := map[string][]byte{}
	var all []byte
	for i, req := range seedRequests(t) {
		name := fmt.Sprintf("%02d-%s-v%d-%d", req.Key(), strings.ToLower(kmsg.NameForKey(req.Key())), req.GetVersion(), i)
		frame := encodeFrame(req, int32(i))
		single[name] = frame
		single[name+"-truncated"] = frame[:len(frame)/2]
		flipped := append([]byte(nil), frame...)
		flipped[len(flipped)-1-i%len(flipped)] ^= 0x41
		single[name+"-flipped"] = flipped
		sp := sizePrefixed(frame)
		stream[name] = sp
		stream[name+"-twice"] = append(append([]byte(nil), sp...), sp...)
		all = append(all, sp...)
	}
	stream["all-seeds"] = all
	for name, size := range map[string]int64{"size-minus-1": -1, "size-0": 0, "size-3": 3, "size-too-large": maxTestRequestBytes + 1} {
		stream[name] = binary.BigEndian.AppendUint32(nil, uint32(size))
	}
	for target, seeds := range map[string]map[string][]byte{"FuzzRequest": single, "FuzzRequestStream": stream} {
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		stale, _ := filepath.Glob(filepath.Join(dir, "seed-*"))
		for _, f := range stale {
			if err := os.Remove(f); err != nil {
				t.Fatal(err)
			}
		}
		for name, data := range seeds {
			body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", data)
			if err := os.WriteFile(filepath.Join(dir, "seed-"+name), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}
