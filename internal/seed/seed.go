// Package seed derives every random stream of a run from one root seed, so
// a run replays from (commit, scenario, seed).
//
// Sub-seeds are derived by name, not by draw order: adding a client or a new
// random choice somewhere does not shift the streams of the others. The
// derivation is FNV-1a (64 bit) over the root seed's 8 big-endian bytes
// followed by the name; it is part of the replay contract and must not
// change.
//
// Goroutines: the package holds no state. A *rand.Rand it returns belongs
// to its caller and, like every math/rand source, is not safe for
// concurrent use.
package seed

import (
	"crypto/rand"
	"encoding/binary"
	"hash/fnv"
	mrand "math/rand/v2"
)

// Derive returns the sub-seed called name under root.
func Derive(root int64, name string) int64 {
	h := fnv.New64a()
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(root))
	h.Write(b[:])
	h.Write([]byte(name))
	return int64(h.Sum64())
}

// Rand returns a generator seeded with Derive(root, name).
func Rand(root int64, name string) *mrand.Rand {
	s := uint64(Derive(root, name))
	return mrand.New(mrand.NewPCG(s, s^0x9e3779b97f4a7c15))
}

// Random returns a fresh positive root seed from the OS, for runs started
// without one (the caller prints it so the run can be replayed).
func Random() int64 {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		// crypto/rand.Read does not fail on supported platforms.
		panic("seed: crypto/rand: " + err.Error())
	}
	return int64(binary.BigEndian.Uint64(b[:]) >> 1)
}
