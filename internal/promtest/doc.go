// Package promtest is the Prometheus runner for this repository's own tests. It
// moved to the public package github.com/agentops/progressive/testkit/promtest
// (issue 16: an internal package cannot be imported from another module), and
// what is left here forwards to it, type aliases and functions with the old
// signatures, so that the tests that import it keep compiling unchanged. New
// code should import testkit/promtest, whose New takes a context.
package promtest
