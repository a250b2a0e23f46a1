// Package progress prints what a rollout is doing while it does it, for the
// person who started it: which step it is at, how much traffic the canary
// has, each check's latest value against its threshold, the verdicts and
// decisions, and how long the current analysis or pause has left.
//
// A Printer is a rollout.Observer. On a terminal it keeps one status line at
// the bottom and redraws it with each measurement, so a fifteen-minute soak
// is one line that moves rather than a screen that scrolls; what a person
// needs in the scrollback (steps, traffic changes, failures, verdicts, the
// end) is written above it. Anywhere else, a file, a pipe or CI, it writes
// plain lines and never moves the cursor, printing one passing measurement in
// a few and every one that is not a pass. Colour is off unless asked for.
//
// The printer reads only events: it needs no access to the runner, the plan
// or the metric source, so any program that runs a rollout can show its
// progress the same way, and the examples do.
package progress
