// Package timeline draws a rollout's decision record as a picture a person can
// read at a glance after the fact: what share of traffic the canary had and
// when, what each check measured against its threshold, where the
// measurements could not tell, and every decision the runner made with its
// reason.
//
// A DecisionRecord already holds all of it, but as hundreds of JSON lines; the
// question after an incident is usually "what did the canary see just before
// the rollback, and how long was it exposed", which a time axis answers
// faster than reading. SVG renders the picture on its own; HTML wraps it in a
// page with the decisions, checks and learning as text. Both are
// self-contained (no script, no external resource) so the file can be
// attached to a ticket or opened offline, and deterministic (the same record
// gives the same bytes) so they can be compared and tested as text.
//
// The record keeps the canary weight only in the sentences of its route
// decisions, and a check's bounds only in its description; the picture reads
// them back from there. Options.Thresholds gives bounds explicitly where the
// description has none to offer.
package timeline
