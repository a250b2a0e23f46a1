// Package testenv is the control plane for this repository's own tests. It
// moved to the public package github.com/agentops/progressive/testkit/controlplane
// (issue 16: an internal package cannot be imported from another module), and
// what is left here forwards to it, type aliases and functions with the old
// signatures, so that the tests that import it keep compiling unchanged. New
// code should import testkit/controlplane; see its documentation for the
// binaries, the cache directories and the environment variables
// (PROGRESSIVE_TESTENV_BIN, PROGRESSIVE_TESTENV_CACHE, PROGRESSIVE_TESTENV_KEEP,
// PROGRESSIVE_TESTENV_REQUIRED), which are unchanged.
//
// CI prebuilds the binaries with
//
//	go run ./testkit/cmd/build-controlplane
package testenv
