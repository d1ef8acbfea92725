package history

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzRead: no input makes the reader panic, and whatever it accepts
// re-encodes into a history it accepts again with the same operations.
func FuzzRead(f *testing.F) {
	hdr := `{"format":"highwater-history","version":1,"scenario":"s","seed":1,"start":"2026-01-01T00:00:00Z"}` + "\n"
	f.Add([]byte(hdr))
	f.Add([]byte(hdr + `{"index":0,"time":0,"process":0,"type":"invoke","f":"send","value":{"records":[{"topic":"t","partition":0,"value":"a"}]}}` + "\n" +
		`{"index":1,"time":3,"process":0,"type":"ok","f":"send","value":{"records":[{"topic":"t","partition":0,"value":"a","offset":0}]}}` + "\n"))
	f.Add([]byte(hdr + `{"index":0,"time":0,"process":-1,"type":"nemesis","f":"start","value":{"window":1,"fault":"kill"}}` + "\n" +
		`{"index":1,"time":0,"process":2,"type":"invoke","f":"poll"}` + "\n" +
		`{"index":2,"time":9,"process":2,"type":"info","error":"timeout"}` + "\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := Read(bytes.NewReader(data))
		if err != nil {
			return
		}
		var buf bytes.Buffer
		hl, err := json.Marshal(h.Header)
		if err != nil {
			t.Fatal(err)
		}
		buf.Write(append(hl, '\n'))
		enc := json.NewEncoder(&buf)
		for _, e := range h.Events {
			if err := enc.Encode(e); err != nil {
				t.Fatal(err)
			}
		}
		h2, err := Read(&buf)
		if err != nil {
			t.Fatalf("re-read of an accepted history failed: %v", err)
		}
		if len(h2.Ops) != len(h.Ops) || len(h2.Events) != len(h.Events) || len(h2.Faults) != len(h.Faults) {
			t.Fatalf("re-read differs: %d/%d ops", len(h2.Ops), len(h.Ops))
		}
		for i, op := range h.Ops {
			if op.Process != op.Invoke.Process || (!op.Incomplete && op.Complete.Process != op.Process) ||
				!op.Complete.Type.IsCompletion() || h2.Ops[i].Type() != op.Type() {
				t.Fatalf("bad pairing: %+v", op)
			}
		}
	})
}
