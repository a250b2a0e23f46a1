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
// The weights come from the record's decisions (Decision.CanaryWeight, or
// FlagPercent for a flag rollout) and the bounds from its checks
// (Solution.CheckSpecs), never from the wording of its sentences. Records
// written before those fields existed still draw: for them alone the picture
// reads the numbers back from the sentences the runner wrote. Options.Thresholds
// gives bounds explicitly, overriding the record's.
package timeline
