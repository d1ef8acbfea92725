package handler

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

var rewrite = flag.Bool("rewrite", false, "rewrite the generated section of CONFORMANCE.md from the registry")

// conformancePath is CONFORMANCE.md at the repository root.
var conformancePath = filepath.Join("..", "..", "..", "CONFORMANCE.md")

const (
	beginGenerated = "<!-- BEGIN GENERATED API TABLE -->"
	endGenerated   = "<!-- END GENERATED API TABLE -->"
)

// kafka40Floors are Kafka 4.0's oldest served versions where they are not 0:
// KIP-896 removed the versions below these. franz-go's kversion (the
// source of the Kafka 4.0 maxima below) records only maxima.
var kafka40Floors = map[int16]int16{
	0: 3, 1: 4, 2: 1, 8: 2, 9: 1, 11: 2, 19: 2, 20: 1, 23: 2, 27: 1, 29: 1,
	30: 1, 31: 1, 32: 1, 34: 1, 35: 1, 38: 1, 39: 1, 40: 1, 41: 1,
}

// kafka40Notes qualify a Kafka 4.0 range where its ApiVersions answer and
// what it parses differ.
var kafka40Notes = map[int16]string{
	0: "ApiVersions lists 0-12 (KAFKA-18659, for librdkafka); requests below v3 are refused",
}

// kafka40Range is Kafka 4.0's served range of key (ok false: not served).
func kafka40Range(key int16) (minVersion, maxVersion int16, ok bool) {
	maxVersion, ok = kversion.V4_0_0().LookupMaxKeyVersion(key)
	return kafka40Floors[key], maxVersion, ok
}

// headerComment returns the comment block that opens the handler file for
// key (between the package clause and the imports), one string per
// paragraph, and the file's name.
func headerComment(t *testing.T, key int16) (string, []string) {
	t.Helper()
	files, err := filepath.Glob(fmt.Sprintf("%02d_*.go", key))
	if err != nil || len(files) != 1 {
		t.Fatalf("API key %d: want exactly one handler file %02d_name.go, found %v", key, key, files)
	}
	src, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	var paragraphs []string
	var cur []string
	flush := func() {
		if len(cur) > 0 {
			paragraphs = append(paragraphs, strings.Join(cur, " "))
			cur = nil
		}
	}
	lines := strings.Split(string(src), "\n")
	for len(lines) > 0 && !strings.HasPrefix(lines[0], "package ") {
		lines = lines[1:]
	}
	for _, line := range lines[min(1, len(lines)):] {
		switch {
		case line == "" || line == "//":
			flush()
			continue
		case strings.HasPrefix(line, "// "):
			cur = append(cur, strings.TrimSpace(strings.TrimPrefix(line, "// ")))
			continue
		}
		break // the header ends at the first line of code
	}
	if len(cur) > 0 {
		paragraphs = append(paragraphs, strings.Join(cur, " "))
	}
	return files[0], paragraphs
}

// gapMarkers open the sentences of a header that CONFORMANCE.md quotes.
var gapMarkers = regexp.MustCompile(`(Not implemented:|Gaps?:|Differences? from Kafka 4\.0:|Difference from Kafka:)`)

// gaps extracts, from each paragraph, the text from a gap marker to the end
// of the paragraph (split again at a later marker).
func gaps(paragraphs []string) []string {
	var out []string
	for _, p := range paragraphs {
		locs := gapMarkers.FindAllStringIndex(p, -1)
		for i, loc := range locs {
			end := len(p)
			if i+1 < len(locs) {
				end = locs[i+1][0]
			}
			out = append(out, strings.TrimSpace(p[loc[0]:end]))
		}
	}
	return out
}

var headerVersions = regexp.MustCompile(`^(\w+) \(key (\d+)\), versions? (\d+)(?:-(\d+))?\.?`)

// TestHandlerHeadersMatchRegistry: each handler file's first line names
// its API and the versions the registry serves, so the prose cannot claim
// another range than dispatch and ApiVersions use.
func TestHandlerHeadersMatchRegistry(t *testing.T) {
	for _, a := range apiKeys() {
		file, paragraphs := headerComment(t, a.key)
		if len(paragraphs) == 0 {
			t.Errorf("%s: no header comment", file)
			continue
		}
		m := headerVersions.FindStringSubmatch(paragraphs[0])
		if m == nil {
			t.Errorf("%s: header does not start with %q: %q", file, "Name (key N), versions A-B.", paragraphs[0])
			continue
		}
		lo, _ := strconv.Atoi(m[3])
		hi := lo
		if m[4] != "" {
			hi, _ = strconv.Atoi(m[4])
		}
		key, _ := strconv.Atoi(m[2])
		if !strings.EqualFold(m[1], a.name) || int16(key) != a.key || int16(lo) != a.minVersion || int16(hi) != a.maxVersion {
			t.Errorf("%s: header says %s (key %d) %d-%d, the registry serves %s (key %d) %d-%d",
				file, m[1], key, lo, hi, a.name, a.key, a.minVersion, a.maxVersion)
		}
	}
}

func versionRange(lo, hi int16) string {
	if lo == hi {
		return strconv.Itoa(int(lo))
	}
	return fmt.Sprintf("%d-%d", lo, hi)
}

// delta says how a served range differs from Kafka 4.0's.
func delta(a *api) string {
	kmin, kmax, ok := kafka40Range(a.key)
	if !ok {
		return "not in Kafka 4.0"
	}
	var parts []string
	if a.minVersion < kmin {
		parts = append(parts, "keeps v"+versionRange(a.minVersion, kmin-1))
	}
	if a.minVersion > kmin {
		parts = append(parts, "lacks v"+versionRange(kmin, a.minVersion-1))
	}
	if a.maxVersion > kmax {
		parts = append(parts, "adds v"+versionRange(kmax+1, a.maxVersion))
	}
	if a.maxVersion < kmax {
		parts = append(parts, "lacks v"+versionRange(a.maxVersion+1, kmax))
	}
	if len(parts) == 0 {
		return "same"
	}
	return strings.Join(parts, ", ")
}

// kafkaSpellings are Kafka's names where kmsg capitalises differently.
var kafkaSpellings = map[string]string{
	"InitProducerID": "InitProducerId", "SASLHandshake": "SaslHandshake", "SASLAuthenticate": "SaslAuthenticate",
	"DescribeACLs": "DescribeAcls", "CreateACLs": "CreateAcls", "DeleteACLs": "DeleteAcls",
	"DescribeUserSCRAMCredentials": "DescribeUserScramCredentials", "AlterUserSCRAMCredentials": "AlterUserScramCredentials",
}

// kafkaName is the API's name as Kafka's protocol documentation spells it.
func kafkaName(key int16) string {
	name := kmsg.NameForKey(key)
	if k, ok := kafkaSpellings[name]; ok {
		return k
	}
	if name == "" {
		return fmt.Sprintf("(key %d, unknown to kmsg)", key)
	}
	return name
}

func cell(s string) string {
	return strings.ReplaceAll(s, "|", `\|`)
}

// generatedSection renders the registry as CONFORMANCE.md's tables.
func generatedSection(t *testing.T) string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s\n", beginGenerated)
	b.WriteString("<!-- Generated by `go test ./broker/internal/handler -run TestConformanceDoc -rewrite`; do not edit by hand. -->\n\n")
	b.WriteString("### API keys served\n\n")
	b.WriteString("| Key | API | Served | Kafka 4.0 | vs Kafka 4.0 | Not implemented, gaps and differences (from the handler file's header) |\n")
	b.WriteString("|----:|-----|-------:|----------:|--------------|------|\n")
	served := map[int16]bool{}
	for _, a := range apiKeys() {
		served[a.key] = true
		file, paragraphs := headerComment(t, a.key)
		name := kafkaName(a.key)
		k40 := "not served"
		if lo, hi, ok := kafka40Range(a.key); ok {
			k40 = versionRange(lo, hi)
			if note, ok := kafka40Notes[a.key]; ok {
				k40 += " (" + note + ")"
			}
		}
		g := gaps(paragraphs)
		notes := "—"
		if len(g) > 0 {
			notes = strings.Join(g, "<br>")
		}
		fmt.Fprintf(&b, "| %d | [%s](broker/internal/handler/%s) | %s | %s | %s | %s |\n",
			a.key, name, file, versionRange(a.minVersion, a.maxVersion), cell(k40), delta(a), cell(notes))
	}
	b.WriteString("\n### Kafka 4.0 API keys not served\n\n")
	b.WriteString("Requests with these keys close the connection, as Kafka does for an unknown key; ApiVersions does not list them, so clients do not send them.\n\n")
	b.WriteString("| Key | API | Kafka 4.0 |\n|----:|-----|----------:|\n")
	kversion.V4_0_0().EachMaxKeyVersion(func(key, maxVersion int16) {
		if served[key] {
			return
		}
		fmt.Fprintf(&b, "| %d | %s | %s |\n", key, kafkaName(key), versionRange(kafka40Floors[key], maxVersion))
	})
	fmt.Fprintf(&b, "\n%s", endGenerated)
	return b.String()
}

// TestConformanceDoc keeps CONFORMANCE.md's generated tables equal to what
// the registry and the handler headers say. With -rewrite it rewrites the
// section between the markers; without, a stale file fails the test.
func TestConformanceDoc(t *testing.T) {
	doc, err := os.ReadFile(conformancePath)
	if err != nil {
		t.Fatal(err)
	}
	begin := bytes.Index(doc, []byte(beginGenerated))
	end := bytes.Index(doc, []byte(endGenerated))
	if begin < 0 || end < begin {
		t.Fatalf("%s lacks the markers %q ... %q", conformancePath, beginGenerated, endGenerated)
	}
	want := generatedSection(t)
	got := string(doc[begin : end+len(endGenerated)])
	if got == want {
		return
	}
	if !*rewrite {
		t.Fatalf("%s is stale: the API table no longer matches the registry and handler headers; run\n\tgo test ./broker/internal/handler -run TestConformanceDoc -rewrite\nand review the diff", conformancePath)
	}
	updated := append(append(append([]byte(nil), doc[:begin]...), want...), doc[end+len(endGenerated):]...)
	if err := os.WriteFile(conformancePath, updated, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("rewrote %s", conformancePath)
}

// TestSameRangeClaims: a handler header claiming "Same range as Kafka 4.0"
// (or "Kafka 4.0 serves the same range") must be right.
func TestSameRangeClaims(t *testing.T) {
	claim := regexp.MustCompile(`(?i)same range as Kafka 4\.0|Kafka 4\.0 serves the same range`)
	for _, a := range apiKeys() {
		file, paragraphs := headerComment(t, a.key)
		if !claim.MatchString(strings.Join(paragraphs, " ")) {
			continue
		}
		if d := delta(a); d != "same" {
			lo, hi, _ := kafka40Range(a.key)
			t.Errorf("%s claims Kafka 4.0's range, but serves %d-%d where Kafka 4.0 serves %d-%d (%s)", file, a.minVersion, a.maxVersion, lo, hi, d)
		}
	}
}

// TestKafka40Floors: every floor names a key Kafka 4.0 serves, below its
// maximum (a typo in the table would otherwise print nonsense ranges).
func TestKafka40Floors(t *testing.T) {
	for key, floor := range kafka40Floors {
		lo, hi, ok := kafka40Range(key)
		if !ok || lo != floor || floor > hi {
			t.Errorf("key %d: floor %d, Kafka 4.0 range %d-%d (served %v)", key, floor, lo, hi, ok)
		}
	}
}
