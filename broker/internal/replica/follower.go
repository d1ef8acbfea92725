package replica

import (
	"errors"
	"fmt"
)

// followerState is what a follower keeps about its fetching.
type followerState struct {
	fetching fetchState
}

type fetchState struct {
	outstanding    uint64 // ID of the fetch awaiting an answer, 0 none
	sentMs         int64
	backoffUntilMs int64
	fenced         bool // leader said our epoch is old: wait for metadata
}

func fetchIdle() fetchState { return fetchState{} }

// maybeFetch emits the next fetch when a follower has none in flight. IDs
// only grow across roles so an answer to an old fetch is never mistaken for
// a new one.
func (p *Partition) maybeFetch() {
	f := &p.fetching
	if p.role != RoleFollower || p.leader < 0 || f.fenced || f.outstanding != 0 || p.nowMs < f.backoffUntilMs {
		return
	}
	p.fetchSeq++
	f.outstanding, f.sentMs = p.fetchSeq, p.nowMs
	p.out.Fetch = &FetchRequest{
		ID: p.fetchSeq, Leader: p.leader, CurrentLeaderEpoch: p.leaderEpoch,
		FetchOffset: p.leo, LastFetchedEpoch: p.epochs.latestEpoch(), LogStartOffset: p.logStart,
	}
}

// fetchResponse handles the answer to the outstanding fetch (Kafka's
// AbstractFetcherThread.processFetchRequest for one partition).
func (p *Partition) fetchResponse(m FetchResponse) error {
	f := &p.fetching
	if p.role != RoleFollower || f.outstanding == 0 || m.FetchID != f.outstanding {
		return nil // stale, duplicated or superseded
	}
	f.outstanding = 0
	switch {
	case m.Err == nil && m.Diverging != nil:
		if p.truncateToDivergence(*m.Diverging) {
			// Kafka's fetcher takes the leader's high watermark from
			// every answer without an error, a diverging one too
			// (processPartitionData runs before truncateOnFetchResponse):
			// a follower that only ever got this answer before the leader
			// died must not lead with an older one (its restart
			// checkpoint). Taken only once the truncation is final: the
			// log below is then the leader's, so the high watermark
			// covers no record of the cut tail.
			p.setHW(min(max(m.HighWatermark, p.logStart), p.leo))
		}
	case m.Err == nil:
		return p.appendFromLeader(m)
	case errors.Is(m.Err, ErrOffsetOutOfRange):
		p.offsetOutOfRange(m.LogStartOffset, m.LogEndOffset)
	case errors.Is(m.Err, ErrFencedLeaderEpoch):
		f.fenced = true
	default:
		f.backoffUntilMs = p.nowMs + p.cfg.FetchBackoffMs
	}
	return nil
}

func (p *Partition) appendFromLeader(m FetchResponse) error {
	next := p.leo
	latest := p.epochs.latestEpoch()
	for _, b := range m.Batches {
		// A batch may start above the log end (never below): the leader's
		// log compaction removes whole batches, as Kafka's follower allows.
		if b.BaseOffset < next || b.LastOffset < b.BaseOffset || b.LeaderEpoch < latest || b.LeaderEpoch > p.leaderEpoch {
			p.fetching.backoffUntilMs = p.nowMs + p.cfg.FetchBackoffMs
			return fmt.Errorf("%w: fetched batch %+v at log end %d, latest epoch %d, leader epoch %d",
				ErrBadInput, b, next, latest, p.leaderEpoch)
		}
		next, latest = b.LastOffset+1, b.LeaderEpoch
	}
	if len(m.Batches) > 0 {
		for _, b := range m.Batches {
			p.epochs.assign(b.LeaderEpoch, b.BaseOffset)
		}
		p.leo = next
		p.out.Writes = append(p.out.Writes, LogWrite{Kind: WriteAppend, FetchID: m.FetchID, Batches: append([]Batch(nil), m.Batches...)})
	}
	if m.LogStartOffset > p.logStart && m.LogStartOffset <= p.leo {
		// Follow the leader's retention (Kafka's maybeIncrementLogStartOffset).
		p.logStart = m.LogStartOffset
		p.epochs.truncateFromStart(m.LogStartOffset)
		p.out.Writes = append(p.out.Writes, LogWrite{Kind: WriteLogStart, Offset: m.LogStartOffset})
	}
	// Kafka sets the follower's high watermark to the leader's, clamped to
	// its own log: it can go down when a new leader's lags the old one's.
	p.setHW(min(max(m.HighWatermark, p.logStart), p.leo))
	return nil
}

func (p *Partition) setHW(hw int64) {
	if hw != p.hw {
		p.hw = hw
		p.out.HighWatermarkChanged = true
	}
}

// truncateToDivergence computes the truncation offset from the leader's
// diverging epoch the way Kafka's getOffsetTruncationState does: find our
// own end of the largest epoch not above the leader's; if we have that very
// epoch, cut at the smaller end; if we only have an older one, cut at its
// end and let the next fetch (whose last fetched epoch is now that older
// one) compare again. It reports whether the cut is final: both logs hold
// that epoch, so what is left is a prefix of the leader's log.
func (p *Partition) truncateToDivergence(d EpochEndOffset) bool {
	switch {
	case d.EndOffset == UndefinedOffset:
		p.truncateTo(p.hw) // Kafka falls back to the high watermark
		return false
	case d.Epoch == UndefinedEpoch:
		p.truncateTo(min(d.EndOffset, p.leo))
		return false
	}
	own := p.epochs.endOffsetFor(d.Epoch, p.leo)
	var offset int64
	switch {
	case own.EndOffset == UndefinedOffset:
		offset = min(d.EndOffset, p.leo)
	case own.Epoch != d.Epoch:
		offset = min(own.EndOffset, p.leo)
	default:
		p.truncateTo(min(d.EndOffset, own.EndOffset, p.leo))
		return true
	}
	p.truncateTo(offset)
	return false
}

// offsetOutOfRange: our log ends past the leader's (truncate to its end) or
// before its start (start over at its start), as Kafka's fetcher does.
func (p *Partition) offsetOutOfRange(leaderStart, leaderEnd int64) {
	switch {
	case leaderEnd >= 0 && p.leo > leaderEnd:
		p.truncateTo(leaderEnd)
	case leaderStart > p.leo:
		p.truncateFully(leaderStart)
	default:
		p.fetching.backoffUntilMs = p.nowMs + p.cfg.FetchBackoffMs
	}
}

func (p *Partition) truncateTo(offset int64) {
	if offset >= p.leo {
		// Nothing to cut, but an epoch that starts at the log end and has no
		// records goes: a former leader records its epoch's start before
		// writing anything, and keeping it would make every fetch report it
		// as the last fetched epoch and diverge forever (Kafka does the same).
		p.epochs.truncateFromEnd(p.leo)
		return
	}
	if offset < p.logStart {
		p.truncateFully(offset)
		return
	}
	p.leo = offset
	p.epochs.truncateFromEnd(offset)
	p.out.Writes = append(p.out.Writes, LogWrite{Kind: WriteTruncate, Offset: offset})
	p.setHW(min(p.hw, offset))
}

func (p *Partition) truncateFully(offset int64) {
	p.logStart, p.leo = offset, offset
	p.epochs = epochCache{version: p.epochs.version + 1}
	p.out.Writes = append(p.out.Writes, LogWrite{Kind: WriteTruncateFully, Offset: offset})
	p.setHW(offset)
}
