// Command progressive is the command line of the progressive SDK: it checks,
// explains, rehearses and runs rollout documents, and shows, commands and
// measures the rollouts in a state store.
//
//	go install github.com/agentops/progressive/cmd/progressive@latest
//	progressive validate rollout.yaml
//	progressive run --sim rollout.yaml
//	progressive status -w
//
// The same commands are a kubectl plugin as cmd/kubectl-progressive. All of
// the code is in internal/cli; `progressive -h` lists the commands and the
// exit codes.
package main
