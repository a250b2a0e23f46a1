package controlplane

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The embedded pins must be byte for byte the tools modules of this checkout:
// the cache key hashes them, and a build from another module uses nothing else.
func TestPinsMatchTools(t *testing.T) {
	root, err := FindRepoRoot(".")
	require.NoError(t, err)
	require.NoError(t, CheckPins(root), "tools/ changed without go generate ./testkit/controlplane")
}

func TestCheckPinsNamesTheStaleFile(t *testing.T) {
	root := t.TempDir()
	for _, m := range toolsModules {
		require.NoError(t, os.MkdirAll(filepath.Join(root, "tools", m), 0o755))
		for _, f := range []string{"go.mod", "go.sum"} {
			data, err := pinFile(m, f)
			require.NoError(t, err)
			if m == "kwok" && f == "go.sum" {
				data = append(data, "example.com/x v1.0.0 h1:abc=\n"...)
			}
			require.NoError(t, os.WriteFile(filepath.Join(root, "tools", m, f), data, 0o644))
		}
	}
	err := CheckPins(root)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "tools/kwok/go.sum")
	assert.NotContains(t, err.Error(), "tools/k8s/go.mod")
}

func TestDefaultCacheDir(t *testing.T) {
	t.Setenv(CacheDirEnv, "")
	t.Setenv("XDG_CACHE_HOME", "/xdg")
	got, err := DefaultCacheDir("")
	require.NoError(t, err)
	assert.Equal(t, filepath.Join("/xdg", UserCacheSubdir, "bin"), got, "outside a checkout: the user cache")

	got, err = DefaultCacheDir("/repo")
	require.NoError(t, err)
	assert.Equal(t, "/repo/.cache/testenv/bin", got, "inside a checkout: as before")

	t.Setenv(CacheDirEnv, "/shared")
	got, err = DefaultCacheDir("/repo")
	require.NoError(t, err)
	assert.Equal(t, "/shared", got, "the environment wins")
}

// fakeBuild lays out a complete cache entry for the current key under dir,
// with scripts standing in for the binaries.
func fakeBuild(t *testing.T, dir string) string {
	t.Helper()
	key, err := CacheKey()
	require.NoError(t, err)
	b := binariesIn(filepath.Join(dir, key))
	require.NoError(t, os.MkdirAll(b.StagesDir, 0o755))
	for _, p := range []string{b.Etcd, b.KubeAPIServer, b.KubeControllerManager, b.KubeScheduler, b.Kwok} {
		require.NoError(t, os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755))
	}
	for _, f := range kwokStageFiles {
		require.NoError(t, os.WriteFile(filepath.Join(b.StagesDir, filepath.Base(f)), []byte("kind: Stage\n"), 0o644))
	}
	require.NoError(t, os.WriteFile(filepath.Join(b.Dir, stampFileName), []byte("{}\n"), 0o644))
	return b.Dir
}

// Issue 16: $PROGRESSIVE_TESTENV_CACHE failed from another module ("no go.mod
// of module github.com/agentops/progressive") because the cache key was read
// from the checkout's tools/. Now it comes from the embedded pins.
func TestCacheEnvWorksOutsideTheRepository(t *testing.T) {
	cache := t.TempDir()
	want := fakeBuild(t, cache)
	t.Chdir(t.TempDir()) // another module, or none
	t.Setenv(BinDirEnv, "")
	t.Setenv(CacheDirEnv, cache)
	bins, err := EnsureBinaries(context.Background(), BuildOptions{})
	require.NoError(t, err)
	assert.Equal(t, want, bins.Dir)
	assert.Equal(t, filepath.Join(want, "kube-apiserver"), bins.KubeAPIServer)
}

func TestUserCacheOutsideTheRepository(t *testing.T) {
	xdg := t.TempDir()
	want := fakeBuild(t, filepath.Join(xdg, UserCacheSubdir, "bin"))
	t.Chdir(t.TempDir())
	t.Setenv(BinDirEnv, "")
	t.Setenv(CacheDirEnv, "")
	t.Setenv("XDG_CACHE_HOME", xdg)
	bins, err := EnsureBinaries(context.Background(), BuildOptions{})
	require.NoError(t, err)
	assert.Equal(t, want, bins.Dir)
}

func TestPrebuiltBinDirMustBeComplete(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, stagesDirName), 0o755))
	_, err := EnsureBinaries(context.Background(), BuildOptions{BinDir: dir})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "kube-apiserver")
}

func TestWritePinnedModules(t *testing.T) {
	dir, err := writePinnedModules(t.TempDir())
	require.NoError(t, err)
	for _, m := range toolsModules {
		data, err := os.ReadFile(filepath.Join(dir, m, "go.mod"))
		require.NoError(t, err)
		assert.Equal(t, ModulePath+"/tools/"+m, goModModulePath(data))
		assert.FileExists(t, filepath.Join(dir, m, "go.sum"))
	}
}

func TestGoEnvDropsModFlags(t *testing.T) {
	t.Setenv("GOFLAGS", "-mod=vendor -buildvcs=false --mod=mod")
	env := goEnv("CGO_ENABLED=0")
	var goflags string
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "GOFLAGS="); ok {
			goflags = v // the last one wins, as in exec
		}
	}
	assert.Equal(t, "-buildvcs=false", goflags)
	assert.Contains(t, env, "GOWORK=off")
	assert.Equal(t, "CGO_ENABLED=0", env[len(env)-1])
}
