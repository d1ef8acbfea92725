// Package reports renders results for people: bench comparisons (and, as
// the harness grows, runs and sizing plans) as self-contained HTML pages
// with inline SVG plots, with no external scripts, fonts or styles, so a
// page can be mailed, archived or opened offline and looks the same.
//
// Contract: rendering is pure. A page is built from result values (for
// bench, the bench.Report and the runs it came from) and written to an
// io.Writer; the same input gives byte-identical output (golden-file
// tested), so nothing here reads the clock, the environment or the host.
// Bad or empty input renders as "no data" rather than failing, except for
// write errors, which are returned.
//
// Goroutines: none; nothing here is shared or retained after a call.
//
// This is library code: it never imports testing.
package reports
