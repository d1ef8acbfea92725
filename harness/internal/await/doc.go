// Package await waits for a condition the way the cluster drivers wait for
// their nodes: try, pause, try again until the condition holds, a fatal
// check says waiting cannot help, or the context ends.
//
// Contract: Until returns nil as soon as ready does; the error of Fatal
// as is (a process or container that exited); and when ctx ends,
// TimedOut's error built from ready's last one, so each driver keeps its
// own sentinel (ErrNotReady) and its own hints and log quotes. Each try
// (Fatal, then ready) runs under its own context bounded by Attempt, so a
// node that does not answer costs one Attempt, not the whole wait.
//
// Goroutines: none; Until runs on the caller's goroutine.
//
// This is library code: it never imports testing.
package await
