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
// record and stats read or command the rollouts kept in a state store. The
// providers (Kubernetes, a router, Prometheus, a flag store, the state store)
// come from a small configuration document (Config), never from flags, so that
// no credential lands in a shell's history: secrets are read from environment
// variables or files the document names. With --sim any document runs against
// the simulator (provider/sim) on a fake clock driven to the end: a rehearsal
// of hours that takes a second.
//
// # Exit codes
//
// A pipeline branches on the exit code, so each outcome has its own (see the
// Exit* constants): 0 promoted or done, 2 invalid input, 3 rolled back or
// aborted, 4 refused to start, 5 a transient failure worth retrying, 6
// interrupted with the rollout still unfinished (it is stored; run resumes it),
// 1 anything else.
package cli
