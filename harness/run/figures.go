package run

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/highwater-io/highwater/history"
)

// Figures are the run's numbers: how much was done, and how long the
// cluster stopped acknowledging writes (failover time is measured as the
// gap in acknowledged sends, KAFKA.md).
type Figures struct {
	Ops         int `json:"ops"`
	Sends       int `json:"sends"`
	SendsOK     int `json:"sends_ok"`
	SendsInfo   int `json:"sends_info"`
	SendsFail   int `json:"sends_fail"`
	Polls       int `json:"polls"`
	RecordsRead int `json:"records_read"`
	Fetches     int `json:"fetches"`
	ListOffsets int `json:"list_offsets"`
	ReadsFailed int `json:"reads_failed"`
	// Transactions (txn and eos workloads): committed, aborted (asked to
	// or certainly) and unknown. An ok transaction counts as an
	// acknowledgement for the ack rate and gaps.
	Txns          int `json:"txns,omitempty"`
	TxnsCommitted int `json:"txns_committed,omitempty"`
	TxnsAborted   int `json:"txns_aborted,omitempty"`
	TxnsInfo      int `json:"txns_info,omitempty"`
	// AckRatePerSec is acknowledged sends per second of the workload phase.
	AckRatePerSec float64 `json:"ack_rate_per_sec"`
	// MaxAckGap is the longest stretch of the workload phase without an
	// acknowledged send (from the phase start, between acks, to the moment
	// the last send settled).
	MaxAckGap   Seconds `json:"max_ack_gap_s"`
	MaxAckGapAt Seconds `json:"max_ack_gap_at_s"`
	// Windows is the longest ack gap overlapping each fault window.
	Windows []WindowGap `json:"windows,omitempty"`
}

// Seconds is a duration written as fractional seconds.
type Seconds float64

func secs(ns int64) Seconds { return Seconds(float64(ns) / 1e9) }

// WindowGap is one fault window and the longest ack gap overlapping it.
type WindowGap struct {
	Fault       string  `json:"fault"`
	Description string  `json:"description,omitempty"`
	Start       Seconds `json:"start_s"`
	End         Seconds `json:"end_s"`
	AckGap      Seconds `json:"ack_gap_s"`
}

// ComputeFigures measures h.
func ComputeFigures(h *history.History) Figures {
	var f Figures
	var acks []int64
	for _, op := range h.Ops {
		f.Ops++
		switch op.F {
		case history.FSend:
			f.Sends++
			switch op.Type() {
			case history.TypeOK:
				f.SendsOK++
				acks = append(acks, op.Complete.Time)
			case history.TypeFail:
				f.SendsFail++
			default:
				f.SendsInfo++
			}
		case history.FPoll:
			f.Polls++
			if p, ok := op.Complete.Poll(); ok {
				for _, pr := range p.Partitions {
					f.RecordsRead += len(pr.Records)
				}
			}
		case history.FTxn:
			f.Txns++
			x, _ := op.Complete.Txn()
			switch {
			case op.Type() == history.TypeInfo || x == nil:
				f.TxnsInfo++
			case x.Committed(op.Type()):
				f.TxnsCommitted++
			default:
				f.TxnsAborted++
			}
			if op.Type() == history.TypeOK {
				acks = append(acks, op.Complete.Time)
			}
		case history.FFetch:
			f.Fetches++
		case history.FListOffsets:
			f.ListOffsets++
		}
		if (op.F == history.FFetch || op.F == history.FListOffsets) && op.Type() != history.TypeOK {
			f.ReadsFailed++
		}
	}
	from, to := workloadSpan(h)
	// The phase can outlast the sending: producers stop at the workload's
	// duration, then the phase waits for them to wind down. Idle time after
	// the last send settled is not a stall, so gaps end there.
	if last := lastSendSettled(h, from, to); last > from && last < to {
		to = last
	}
	sort.Slice(acks, func(i, j int) bool { return acks[i] < acks[j] })
	// Gaps are between consecutive points: the phase start, every ack
	// inside the phase, the phase end.
	points := []int64{from}
	for _, t := range acks {
		if t > from && t < to {
			points = append(points, t)
		}
	}
	inPhase := len(points) - 1
	points = append(points, to)
	if to > from {
		f.AckRatePerSec = float64(inPhase) / (float64(to-from) / 1e9)
	}
	for i := 1; i < len(points); i++ {
		if g := points[i] - points[i-1]; secs(g) > f.MaxAckGap {
			f.MaxAckGap, f.MaxAckGapAt = secs(g), secs(points[i-1])
		}
	}
	for _, w := range h.Faults {
		end := w.StopTime
		if end < 0 {
			end = h.EndTime()
		}
		wg := WindowGap{Fault: w.Fault, Description: w.Description, Start: secs(w.StartTime), End: secs(end)}
		for i := 1; i < len(points); i++ {
			if points[i] >= w.StartTime && points[i-1] <= end {
				wg.AckGap = max(wg.AckGap, secs(points[i]-points[i-1]))
			}
		}
		f.Windows = append(f.Windows, wg)
	}
	return f
}

// lastSendSettled is when the last send invoked in [from, to] completed
// (ok, fail or info), or from when there was none.
func lastSendSettled(h *history.History, from, to int64) int64 {
	last := from
	for _, op := range h.Ops {
		if (op.F == history.FSend || op.F == history.FTxn) && op.Invoke.Time >= from && op.Invoke.Time <= to {
			last = max(last, op.Complete.Time)
		}
	}
	return last
}

// workloadSpan is the workload phase: from its marker (else 0) to the next
// phase marker (else the end of the history).
func workloadSpan(h *history.History) (from, to int64) {
	to = h.EndTime()
	started := false
	for _, e := range h.Phases {
		if string(e.F) == history.PhaseWorkload {
			from, started = e.Time, true
			continue
		}
		if started {
			return from, e.Time
		}
	}
	return from, to
}

// Text renders the figures for summary.txt.
func (f Figures) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "operations %d: sends %d (ok %d, info %d, fail %d), polls %d (%d records), fetches %d, list-offsets %d (%d reads failed)\n",
		f.Ops, f.Sends, f.SendsOK, f.SendsInfo, f.SendsFail, f.Polls, f.RecordsRead, f.Fetches, f.ListOffsets, f.ReadsFailed)
	what := "sends"
	if f.Txns > 0 {
		fmt.Fprintf(&b, "transactions %d: committed %d, aborted %d, unknown %d\n", f.Txns, f.TxnsCommitted, f.TxnsAborted, f.TxnsInfo)
		what = "sends and transactions"
	}
	fmt.Fprintf(&b, "acknowledged %.1f %s/s; longest gap without an ack %s at %s\n",
		f.AckRatePerSec, what, dur(f.MaxAckGap), dur(f.MaxAckGapAt))
	for _, w := range f.Windows {
		fmt.Fprintf(&b, "  fault %-22s %8s..%-8s ack gap %s  %s\n", w.Fault, dur(w.Start), dur(w.End), dur(w.AckGap), w.Description)
	}
	return b.String()
}

func dur(s Seconds) string {
	return time.Duration(float64(s) * 1e9).Round(time.Millisecond).String()
}
