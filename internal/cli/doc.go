// Package cli is the command line of progressive, shared by two programs:
// cmd/progressive (installed with go install) and cmd/kubectl-progressive (the
// same commands as a kubectl plugin, `kubectl progressive ...`). Both mains are
// one line; everything they do is here, so that the tests call the same entry
// point (App.Run) a person does, with the same flags and exit codes.
//
// # Commands
//
// validate, explain, dry-run and run read rollout documents (package
// rollout/document); status, promote, abort, rollback, continue, history,
// record, stats and template export read or command the rollouts kept in a
// state store. Commands do not drive rollouts themselves: promote, abort,
// rollback and continue store the instruction with the rollout, and the
// process driving it (a run, a controller) carries it out at its next step,
// which is how a second terminal or a pipeline steers a run. The
// providers (Kubernetes, a router, Prometheus, a flag store, the state store)
// come from a small configuration document (Config), never from flags, so that
// no credential lands in a shell's history: secrets are read from environment
// variables or files the document names. The configuration also binds a
// document's names to the environment: a check whose query is a name in
// queries is measured by that PromQL template, a hook without a url is the
// command, Job or webhook of its name in hooks (a name not defined is
// refused), and a checklist section gates run with the production checklist.
// --set path=value edits a document before the strict decoder reads it, so
// that a pipeline runs the checked-in file for its build. With --sim any
// document runs against
// the simulator (provider/sim) on a fake clock driven to the end: a rehearsal
// of hours that takes a second. Rehearsals are stored apart from real
// rollouts ($XDG_STATE_HOME/progressive/sim), so that a simulated rollout
// never holds a real target; status --sim and the other readers find them.
//
// # Exit codes
//
// A pipeline branches on the exit code, so each outcome has its own (see the
// Exit* constants): 0 promoted or done, 2 invalid input, 3 rolled back or
// aborted, 4 refused to start, 5 a transient failure worth retrying, 6
// interrupted with the rollout still unfinished (it is stored; run resumes it),
// 1 anything else.
package cli
