// Package reports renders results for people: bench comparisons, capacity
// plans and chaos runs (report.html in a run directory: verdict, checker
// results, anomalies and allowed findings with explanations, links to
// porcupine's pages, and throughput/latency timelines with fault windows
// shaded and ack gaps marked) as self-contained HTML pages
// with inline SVG plots, with no external scripts, fonts or styles, so a
// page can be mailed, archived or opened offline and looks the same.
//
// Contract: rendering is pure. A page is built from result values (for
// bench, the bench.Report and the runs it came from) and written to an
// io.Writer; the same input gives byte-identical output (golden-file
// tested), so nothing here reads the clock, the environment or the host.
// Bad or empty input renders as "no data" rather than failing, except for
// write errors, which are returned. WriteRunReport is the one thin driver
// that touches files: it reads a run directory (results.json, run.json,
// history.jsonl) and writes report.html beside them.
//
// Goroutines: none; nothing here is shared or retained after a call.
//
// This is library code: it never imports testing.
package reports
