// Command kubectl-progressive is progressive's command line as a kubectl
// plugin: installed on $PATH it runs as `kubectl progressive <command>`,
// with the same commands, flags and exit codes as cmd/progressive.
//
//	go install github.com/agentops/progressive/cmd/kubectl-progressive@latest
//	kubectl progressive status
package main
