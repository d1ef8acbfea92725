package txn

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

var rewrite = flag.Bool("rewrite", false, "rewrite testdata/*.txt with the actual output")

// harness drives a Coordinator the way Service does, with a log in memory
// that scripts can make fail, replay, or deliver markers twice.
type harness struct {
	c         *Coordinator
	now       time.Time
	log       []KV
	nextPID   int64
	failWrite bool
	cfg       Config
}

func newHarness() *harness {
	h := &harness{now: time.UnixMilli(1_000_000)}
	h.cfg = Config{MaxTimeout: 15 * time.Minute, IDExpiration: time.Hour,
		NextProducerID: func() (int64, error) { h.nextPID++; return h.nextPID - 1, nil }}
	h.c, _ = NewCoordinator(h.cfg)
	return h
}

// commit persists and applies d.Next as Service.commitLocked does.
func (h *harness) commit(d Decision) string {
	out := fmtDecision(d)
	if d.Next == nil {
		return out
	}
	if h.failWrite {
		h.failWrite = false
		return out + " (write failed: not applied)"
	}
	h.log = append(h.log, d.Next.Record())
	h.c.Apply(*d.Next)
	return out
}

func fmtErr(err error) string {
	if err == nil {
		return "OK"
	}
	var ke *kerr.Error
	for e := err; e != nil; {
		if k, ok := e.(*kerr.Error); ok {
			ke = k
			break
		}
		u, ok := e.(interface{ Unwrap() error })
		if !ok {
			break
		}
		e = u.Unwrap()
	}
	if ke != nil {
		return ke.Message
	}
	return err.Error()
}

func fmtDecision(d Decision) string {
	s := fmt.Sprintf("%s pid=%d epoch=%d", fmtErr(d.Err), d.ProducerID, d.ProducerEpoch)
	if d.Next != nil {
		s += " -> " + fmtMeta(*d.Next)
	}
	return s
}

func fmtMeta(m Metadata) string {
	var parts []string
	for _, tp := range m.SortedPartitions() {
		parts = append(parts, fmt.Sprintf("%s-%d", tp.Topic, tp.Partition))
	}
	tv := ""
	if m.tv2() {
		tv = fmt.Sprintf(" tv=%d next=%d last=%d", m.ClientTxnVersion, m.NextProducerID, m.LastProducerEpoch)
	}
	return fmt.Sprintf("%s{pid=%d epoch=%d prev=%d timeout=%d start=%d parts=[%s]%s}", m.State, m.ProducerID, m.ProducerEpoch,
		m.PrevProducerID, m.TimeoutMs, m.StartMs, strings.Join(parts, " "), tv)
}

func parseTP(s string) TopicPartition {
	i := strings.LastIndexByte(s, '-')
	p, _ := strconv.Atoi(s[i+1:])
	return TopicPartition{s[:i], int32(p)}
}

func atoi64(s string) int64 { n, _ := strconv.ParseInt(s, 10, 64); return n }

// exec runs one script line and returns its output.
func (h *harness) exec(line string) string {
	f := strings.Fields(line)
	switch f[0] {
	case "init": // init ID [timeout=MS] [expect=PID/EPOCH]
		timeout := int32(60000)
		var exp *ProducerIDAndEpoch
		for _, a := range f[2:] {
			k, v, _ := strings.Cut(a, "=")
			switch k {
			case "timeout":
				timeout = int32(atoi64(v))
			case "expect":
				p, e, _ := strings.Cut(v, "/")
				exp = &ProducerIDAndEpoch{atoi64(p), int16(atoi64(e))}
			}
		}
		return h.commit(h.c.InitProducerID(h.now, f[1], timeout, exp))
	case "add": // add ID PID EPOCH tp...
		var tps []TopicPartition
		for _, a := range f[4:] {
			tps = append(tps, parseTP(a))
		}
		return h.commit(h.c.AddPartitions(h.now, f[1], atoi64(f[2]), int16(atoi64(f[3])), tps))
	case "verify": // verify ID PID EPOCH tp...
		var tps []TopicPartition
		for _, a := range f[4:] {
			tps = append(tps, parseTP(a))
		}
		res, err := h.c.VerifyPartitions(f[1], atoi64(f[2]), int16(atoi64(f[3])), tps)
		if err != nil {
			return fmtErr(err)
		}
		var out []string
		for _, tp := range tps {
			out = append(out, fmt.Sprintf("%s-%d:%s", tp.Topic, tp.Partition, fmtErr(res[tp])))
		}
		return strings.Join(out, " ")
	case "end": // end ID PID EPOCH commit|abort
		return h.commit(h.c.EndTxn(h.now, f[1], atoi64(f[2]), int16(atoi64(f[3])), f[4] == "commit"))
	case "end2": // end2 ID PID EPOCH commit|abort: EndTxn v5 (transaction version 2)
		return h.commit(h.c.EndTxnTV2(h.now, f[1], atoi64(f[2]), int16(atoi64(f[3])), f[4] == "commit"))
	case "add2": // add2 ID PID EPOCH tp...: added by a partition leader for Produce v12+
		var tps []TopicPartition
		for _, a := range f[4:] {
			tps = append(tps, parseTP(a))
		}
		return h.commit(h.c.AddPartitionsTV(h.now, f[1], atoi64(f[2]), int16(atoi64(f[3])), tps, TV2))
	case "server-tv": // server-tv LEVEL: the broker's finalized transaction.version
		h.cfg.TransactionVersion = int16(atoi64(f[1]))
		h.c.cfg.TransactionVersion = h.cfg.TransactionVersion
		return "ok"
	case "set-epoch": // set-epoch ID EPOCH: jump the stored epoch (overflow tests)
		m, ok := h.c.Get(f[1])
		if !ok {
			return "unknown id"
		}
		m.ProducerEpoch = int16(atoi64(f[2]))
		h.c.Apply(m)
		h.log = append(h.log, m.Record())
		return fmtMeta(m)
	case "markers": // markers ID: every partition acknowledged the markers of the current prepare
		m, ok := h.c.Get(f[1])
		if !ok {
			return "unknown id"
		}
		return h.commit(h.c.MarkersWritten(h.now, f[1], m.ProducerID, m.ProducerEpoch))
	case "markers-for": // markers-for ID PID EPOCH: a (possibly stale) acknowledgement
		return h.commit(h.c.MarkersWritten(h.now, f[1], atoi64(f[2]), int16(atoi64(f[3]))))
	case "fail-next-write":
		h.failWrite = true
		return "ok"
	case "advance": // advance MS, then abort timed-out transactions and expire ids
		h.now = h.now.Add(time.Duration(atoi64(f[1])) * time.Millisecond)
		var out []string
		for _, id := range h.c.TimedOut(h.now) {
			out = append(out, "timeout "+id+": "+h.commit(h.c.AbortTimedOut(h.now, id)))
		}
		for _, id := range h.c.Expired(h.now) {
			out = append(out, "expire "+id+": "+h.commit(h.c.Expire(h.now, id)))
		}
		if len(out) == 0 {
			return "nothing due"
		}
		return strings.Join(out, "\n")
	case "restart": // a new coordinator loads the log
		c, _ := NewCoordinator(h.cfg)
		if err := c.Load(h.log); err != nil {
			return "load: " + err.Error()
		}
		h.c = c
		var out []string
		for _, m := range c.Pending() {
			out = append(out, "pending "+m.TransactionalID+" "+fmtMeta(m))
		}
		return fmt.Sprintf("loaded %d records", len(h.log)) + prefixLines(out)
	case "state":
		m, ok := h.c.Get(f[1])
		if !ok {
			return "unknown id"
		}
		return fmtMeta(m)
	}
	return "unknown command " + f[0]
}

func prefixLines(lines []string) string {
	if len(lines) == 0 {
		return ""
	}
	return "\n" + strings.Join(lines, "\n")
}

// TestScripts runs testdata/*.txt: each command line is followed by its
// expected output, then a blank line. -rewrite regenerates the outputs.
func TestScripts(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.txt")
	if len(files) == 0 {
		t.Fatal("no scripts")
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			h := newHarness()
			var out strings.Builder
			sc := bufio.NewScanner(strings.NewReader(string(data)))
			var lines []string
			for sc.Scan() {
				lines = append(lines, sc.Text())
			}
			for i := 0; i < len(lines); i++ {
				l := lines[i]
				if strings.HasPrefix(l, "#") || strings.TrimSpace(l) == "" {
					out.WriteString(l + "\n")
					continue
				}
				// a command: its expected output runs to the next blank line
				var want []string
				j := i + 1
				for ; j < len(lines) && strings.TrimSpace(lines[j]) != ""; j++ {
					want = append(want, lines[j])
				}
				got := h.exec(l)
				out.WriteString(l + "\n" + got + "\n")
				if j < len(lines) {
					out.WriteString("\n")
				}
				if !*rewrite && strings.Join(want, "\n") != got {
					t.Errorf("%s:%d: %s\n got: %s\nwant: %s", file, i+1, l, got, strings.Join(want, "\n"))
				}
				i = j
			}
			if *rewrite {
				if err := os.WriteFile(file, []byte(out.String()), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}
