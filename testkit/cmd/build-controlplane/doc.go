// Command build-controlplane builds (or finds in the cache) the control plane
// binaries that testkit/controlplane runs, so CI can build them before the
// tests, from any module that requires github.com/agentops/progressive:
//
//	go run github.com/agentops/progressive/testkit/cmd/build-controlplane
//
// It prints the directory of the binaries: <cache>/<key>, where the cache is
// $PROGRESSIVE_TESTENV_CACHE, else the checkout's .cache/testenv/bin inside
// this repository, else os.UserCacheDir()/progressive-testkit/bin. With -start
// it also starts a control plane once and stops it again, as a smoke test.
package main
