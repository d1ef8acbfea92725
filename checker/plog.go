package checker

// plog is an immutable, persistent append-only log: porcupine's model steps
// must not mutate their state, and copying a slice per append would make
// checking quadratic. Appending allocates one node; reading an offset
// follows jump pointers (Myers' applicative random-access stack) in
// O(log n); equal logs share structure, so equality usually stops at a
// shared node.
type plog struct {
	prev *plog
	jump *plog
	val  string
	n    int64  // length of the log ending at this node
	hash uint64 // hash of the whole log
}

func (l *plog) length() int64 {
	if l == nil {
		return 0
	}
	return l.n
}

func (l *plog) hashOf() uint64 {
	if l == nil {
		return 0x9e3779b97f4a7c15
	}
	return l.hash
}

func (l *plog) append(v string) *plog {
	node := &plog{prev: l, val: v, n: l.length() + 1, hash: mix(l.hashOf(), v)}
	node.jump = l
	if l != nil && l.jump != nil && l.jump.jump != nil &&
		l.n-l.jump.n == l.jump.n-l.jump.jump.n {
		node.jump = l.jump.jump
	}
	return node
}

// at returns the value at offset off (the node whose length is off+1).
func (l *plog) at(off int64) (string, bool) {
	if off < 0 || off >= l.length() {
		return "", false
	}
	target := off + 1
	x := l
	for x.n > target {
		if x.jump != nil && x.jump.n >= target {
			x = x.jump
		} else {
			x = x.prev
		}
	}
	return x.val, true
}

func (l *plog) equal(m *plog) bool {
	for l != m {
		if l == nil || m == nil || l.n != m.n || l.hash != m.hash || l.val != m.val {
			return false
		}
		l, m = l.prev, m.prev
	}
	return true
}

// mix folds a value into a log hash (FNV-1a over the value, then a
// splitmix64 finaliser with the previous hash).
func mix(h uint64, v string) uint64 {
	f := uint64(14695981039346656037)
	for i := 0; i < len(v); i++ {
		f ^= uint64(v[i])
		f *= 1099511628211
	}
	z := h + f + 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}
