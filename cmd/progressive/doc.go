// Command progressive is the command line of the progressive SDK: it checks,
// explains, rehearses and runs rollout documents, and shows, commands and
// measures the rollouts in a state store.
//
//	go install github.com/agentops/progressive/cmd/progressive@latest
//	progressive validate rollout.yaml
//	progressive run --sim rollout.yaml
//	progressive run --config prod.yaml --set spec.release.version=v2.0.1 rollout.yaml
//	progressive status -w
//
// The configuration names the providers and what a document's names mean in
// that environment: queries (a check's named measurement as a PromQL
// template), hooks (a named hook as a local command, a Kubernetes Job or a
// webhook) and the validation checklist that gates run (answered with
// --attest ITEM=NAME or --checklist-override REASON). run --metrics-addr
// serves the runner's Prometheus metrics while it drives.
//
// The same commands are a kubectl plugin as cmd/kubectl-progressive. All of
// the code is in internal/cli; `progressive -h` lists the commands and the
// exit codes.
package main
