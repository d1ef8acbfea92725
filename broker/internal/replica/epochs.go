package replica

// EpochEntry says that leader epoch Epoch wrote its first record at
// StartOffset. An epoch ends where the next one starts (or at the log end).
type EpochEntry struct {
	Epoch       int32
	StartOffset int64
}

// EpochEndOffset answers "where does epoch Epoch end": Kafka's
// OffsetForLeaderEpoch result and the fetch response's diverging epoch.
// UndefinedEpoch / UndefinedOffset when unknown.
type EpochEndOffset struct {
	Epoch     int32
	EndOffset int64
}

// Kafka's UNDEFINED_EPOCH and UNDEFINED_EPOCH_OFFSET.
const (
	UndefinedEpoch  int32 = -1
	UndefinedOffset int64 = -1
)

// epochCache is the leader-epoch cache of one log (Kafka's
// LeaderEpochFileCache): epochs strictly increasing, start offsets
// non-decreasing. It lives with the state machine; the driver persists it
// when Ready says the log changed (appends and truncations carry enough to
// rebuild it).
type epochCache struct {
	entries []EpochEntry
	version uint64 // bumped on every change, so Ready can say when to checkpoint
}

func (c *epochCache) latest() (EpochEntry, bool) {
	if len(c.entries) == 0 {
		return EpochEntry{Epoch: UndefinedEpoch, StartOffset: UndefinedOffset}, false
	}
	return c.entries[len(c.entries)-1], true
}

func (c *epochCache) latestEpoch() int32 {
	e, _ := c.latest()
	return e.Epoch
}

func (c *epochCache) snapshot() []EpochEntry { return append([]EpochEntry(nil), c.entries...) }

// assign records that epoch starts at startOffset. An epoch equal to the
// latest one is already recorded; a lower one cannot be appended after a
// higher one and is refused (the caller reports it). Earlier epochs that
// start at the same offset had no records and are replaced, as Kafka's
// cache does, so start offsets stay strictly increasing.
func (c *epochCache) assign(epoch int32, startOffset int64) bool {
	if last, ok := c.latest(); ok {
		if epoch == last.Epoch {
			return true
		}
		if epoch < last.Epoch || startOffset < last.StartOffset {
			return false
		}
	}
	for n := len(c.entries); n > 0 && c.entries[n-1].StartOffset >= startOffset; n-- {
		c.entries = c.entries[:n-1]
	}
	c.entries = append(c.entries, EpochEntry{Epoch: epoch, StartOffset: startOffset})
	c.version++
	return true
}

// endOffsetFor answers OffsetForLeaderEpoch for requested against a log
// ending at logEndOffset, with Kafka's rules: the latest epoch ends at the
// log end; an older one ends where the first later epoch starts, reported
// under the largest epoch not above the request; a request below every
// epoch gets its own epoch back with the first start offset (the data is
// gone, replicate from there); a request above every epoch is undefined.
func (c *epochCache) endOffsetFor(requested int32, logEndOffset int64) EpochEndOffset {
	undefined := EpochEndOffset{Epoch: UndefinedEpoch, EndOffset: UndefinedOffset}
	last, ok := c.latest()
	if requested == UndefinedEpoch || !ok {
		return undefined
	}
	if requested == last.Epoch {
		return EpochEndOffset{Epoch: requested, EndOffset: logEndOffset}
	}
	higher := -1 // first entry with an epoch above requested
	for i, e := range c.entries {
		if e.Epoch > requested {
			higher = i
			break
		}
	}
	switch {
	case higher < 0:
		return undefined
	case higher == 0:
		return EpochEndOffset{Epoch: requested, EndOffset: c.entries[0].StartOffset}
	default:
		return EpochEndOffset{Epoch: c.entries[higher-1].Epoch, EndOffset: c.entries[higher].StartOffset}
	}
}

// truncateFromEnd forgets epochs that start at or after offset: the log
// is being cut to end at offset.
func (c *epochCache) truncateFromEnd(offset int64) {
	n := len(c.entries)
	for n > 0 && c.entries[n-1].StartOffset >= offset {
		n--
	}
	if n != len(c.entries) {
		c.entries = c.entries[:n]
		c.version++
	}
}

// truncateFromStart follows the log start moving up to offset: epochs that
// ended before it go, and the one covering it now starts there.
func (c *epochCache) truncateFromStart(offset int64) {
	keep := 0 // index of the last entry starting at or below offset
	for i, e := range c.entries {
		if e.StartOffset <= offset {
			keep = i
		}
	}
	if len(c.entries) == 0 || c.entries[0].StartOffset > offset {
		return
	}
	if keep == 0 && c.entries[0].StartOffset == offset {
		return
	}
	c.entries = append([]EpochEntry(nil), c.entries[keep:]...)
	c.entries[0].StartOffset = offset
	c.version++
}
