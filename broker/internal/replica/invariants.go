package replica

import (
	"fmt"
	"slices"
)

// fail poisons the partition with a named invariant violation.
func (p *Partition) fail(name, format string, args ...any) {
	if p.err == nil {
		p.err = fmt.Errorf("%w: %s: %s (%s)", ErrInvariant, name, fmt.Sprintf(format, args...), p)
	}
}

// checkInvariants runs the cheap safety checks after every Step. Each names
// the property it protects; the first failure poisons the partition.
func (p *Partition) checkInvariants() error {
	if p.err != nil {
		return p.err
	}
	switch {
	case p.hw > p.leo:
		p.fail("hw-le-leo", "hw %d > leo %d", p.hw, p.leo)
	case p.hw < p.logStart:
		p.fail("hw-ge-log-start", "hw %d < log start %d", p.hw, p.logStart)
	case p.role == RoleLeader && p.hw < p.hwFloor:
		p.fail("hw-monotonic-in-epoch", "leader hw %d below %d", p.hw, p.hwFloor)
	case p.role == RoleLeader && !slices.Contains(p.isr, p.cfg.ReplicaID):
		p.fail("isr-contains-leader", "isr %v", p.isr)
	case p.role == RoleLeader && p.proposal != nil && !slices.Contains(p.proposal.req.ISR, p.cfg.ReplicaID):
		p.fail("isr-contains-leader", "proposed isr %v", p.proposal.req.ISR)
	}
	if p.role == RoleLeader {
		p.hwFloor = p.hw // the leader's hw only moves up within its epoch
		if last, ok := p.epochs.latest(); !ok || last.Epoch != p.leaderEpoch {
			p.fail("epochs-only-grow", "leader epoch %d, cache latest %+v", p.leaderEpoch, last)
		}
	}
	if p.epochs.latestEpoch() > p.leaderEpoch && p.role != RoleNone {
		p.fail("epochs-only-grow", "log has epoch %d above leader epoch %d", p.epochs.latestEpoch(), p.leaderEpoch)
	}
	for i, e := range p.epochs.entries {
		if e.StartOffset > p.leo || (i > 0 && (e.Epoch <= p.epochs.entries[i-1].Epoch || e.StartOffset < p.epochs.entries[i-1].StartOffset)) {
			p.fail("epochs-only-grow", "epoch cache %v with leo %d", p.epochs.entries, p.leo)
			break
		}
	}
	return p.err
}
