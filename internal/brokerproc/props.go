package brokerproc

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// fillDefaults adds the properties a single test broker needs when the
// caller did not choose them.
func (n *Node) fillDefaults() {
	p := n.opts.Properties
	listener := "PLAINTEXT://" + net.JoinHostPort(n.opts.Host, strconv.Itoa(n.opts.Port))
	setDefault(p, "node.id", "1")
	setDefault(p, "listeners", listener)
	setDefault(p, "advertised.listeners", p["listeners"])
	setDefault(p, "log.dirs", filepath.Join(n.opts.DataDir, "data"))
}

func setDefault(m map[string]string, k, v string) {
	if _, ok := m[k]; !ok {
		m[k] = v
	}
}

// writeProperties writes server.properties atomically (temp file + rename)
// so a broker never reads a half-written file.
func (n *Node) writeProperties() error {
	n.fillDefaults()
	data := FormatProperties(n.opts.Properties)
	tmp := n.propPath + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return fmt.Errorf("brokerproc: write properties: %w", err)
	}
	if err := os.Rename(tmp, n.propPath); err != nil {
		return fmt.Errorf("brokerproc: write properties: %w", err)
	}
	return nil
}

// FormatProperties renders props in java.util.Properties syntax, keys
// sorted so the file is stable across runs.
func FormatProperties(props map[string]string) []byte {
	keys := make([]string, 0, len(props))
	for k := range props {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	b.WriteString("# written by brokerproc\n")
	for _, k := range keys {
		b.WriteString(escapeProperty(k, true))
		b.WriteByte('=')
		b.WriteString(escapeProperty(props[k], false))
		b.WriteByte('\n')
	}
	return []byte(b.String())
}

// escapeProperty escapes what java.util.Properties would otherwise read
// differently: backslashes, line breaks, key separators in keys, and
// leading whitespace (which the reader strips).
func escapeProperty(s string, isKey bool) string {
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\f':
			b.WriteString(`\f`)
		case isKey && (r == '=' || r == ':' || r == ' '):
			b.WriteByte('\\')
			b.WriteRune(r)
		case i == 0 && (r == ' ' || r == '#' || r == '!'):
			b.WriteByte('\\')
			b.WriteRune(r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
