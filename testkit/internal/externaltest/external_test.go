package externaltest

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/agentops/progressive/testkit/controlplane"
)

// TestKitFromAnotherModule runs go test in a copy of testdata/extmod outside
// the repository: a live canary on the kit's control plane and Prometheus to
// promotion and to rollback, a virtual-time rollout and a conformance suite.
//
// The module requires this checkout through a replace directive and starts
// from this module's go.sum, with GOFLAGS=-mod=mod and the caller's GOPROXY,
// so it needs no network beyond what the module cache already holds. The
// binaries come from $PROGRESSIVE_TESTENV_BIN or $PROGRESSIVE_TESTENV_CACHE
// when set, else from this checkout's cache directory, passed as
// $PROGRESSIVE_TESTENV_CACHE: the variable that failed from another module
// before (CI prebuilds it with go run ./testkit/cmd/build-controlplane).
//
// As everywhere in the kit, a control plane or Prometheus that cannot start
// skips the inner tests outside CI (and this test with them), and fails them
// under CI=true.
func TestKitFromAnotherModule(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a module of its own; not in -short")
	}
	root, err := controlplane.FindRepoRoot(".")
	require.NoError(t, err)
	dir := t.TempDir()
	require.False(t, strings.HasPrefix(dir, root+string(filepath.Separator)), "the module must live outside the checkout")

	src := filepath.Join("testdata", "extmod")
	mod, err := os.ReadFile(filepath.Join(src, "go.mod.in"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "go.mod"), bytes.ReplaceAll(mod, []byte("REPO_ROOT"), []byte(root)), 0o644))
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "go.sum"), sum, 0o644))
	code, err := os.ReadFile(filepath.Join(src, "canary_test.go"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "canary_test.go"), code, 0o644))

	env := append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
	if os.Getenv(controlplane.BinDirEnv) == "" && os.Getenv(controlplane.CacheDirEnv) == "" {
		env = append(env, controlplane.CacheDirEnv+"="+filepath.Join(root, ".cache", "testenv", "bin"))
	}
	ctx, cancel := context.WithTimeout(t.Context(), 40*time.Minute) // a cold build of the binaries included
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "test", "-count=1", "-v", "-timeout=40m", ".")
	cmd.Dir = dir
	cmd.Env = env
	start := time.Now()
	out, err := cmd.CombinedOutput()
	t.Logf("go test in %s took %s", dir, time.Since(start).Round(time.Millisecond))
	if err != nil {
		t.Fatalf("go test in the external module: %v\n%s", err, out)
	}
	text := string(out)
	for _, name := range []string{"TestVirtualTime", "TestScriptedSourceConformance"} {
		require.Regexp(t, regexp.MustCompile(`(?m)^--- PASS: `+name+` `), text, "%s must pass from another module", name)
	}
	if m := regexp.MustCompile(`(?m)^--- SKIP: TestLiveCanary .*\n(.*\n){0,3}`).FindString(text); m != "" {
		// Only outside CI: under CI=true the inner test fails instead.
		t.Skipf("the live canary skipped in the external module (no control plane or Prometheus here):\n%s", m)
	}
	for _, name := range []string{"TestLiveCanary/healthy", "TestLiveCanary/failing"} {
		require.Regexp(t, regexp.MustCompile(`(?m)^\s+--- PASS: `+regexp.QuoteMeta(name)+` `), text, "%s must pass from another module\n%s", name, text)
	}
}
