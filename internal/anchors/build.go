package anchors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/agentops/progressive/internal/testenv"
)

// Tool is a controller built from its own module source at a pinned version,
// as its project builds its release: the module is downloaded from the Go
// module proxy (its go.sum checked against the checksum database) and built as
// the main module, so its own replace directives and pins apply.
type Tool struct {
	// Module and Version pin the source, e.g. github.com/fluxcd/flagger v1.44.0.
	Module, Version string
	// Package is the main package inside the module, e.g. ./cmd/flagger.
	Package string
	// Binary is the file name of the built program.
	Binary string
	// Toolchain, when set, is the GOTOOLCHAIN the download and the build run
	// with (a module that needs a newer Go than this machine's); the library
	// itself stays on the machine's Go.
	Toolchain string
}

// CacheDirEnv overrides where built tools are kept (default
// <repo root>/.cache/anchors).
const CacheDirEnv = "PROGRESSIVE_ANCHORS_CACHE"

func (t Tool) env() []string {
	env := append(os.Environ(), "GOFLAGS=-mod=readonly", "CGO_ENABLED=0")
	if t.Toolchain != "" {
		env = append(env, "GOTOOLCHAIN="+t.Toolchain)
	}
	return env
}

func (t Tool) key() string {
	k := strings.ReplaceAll(t.Module, "/", "_") + "@" + t.Version
	if t.Toolchain != "" {
		k += "_" + t.Toolchain
	}
	return k
}

// Source downloads the tool's module and returns its directory in the module
// cache (read-only): CRDs and manifests are read from there.
func (t Tool) Source(ctx context.Context) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "mod", "download", "-json", t.Module+"@"+t.Version)
	cmd.Dir = os.TempDir()
	cmd.Env = t.env()
	out, err := cmd.Output()
	var info struct{ Dir, Error string }
	if jerr := json.Unmarshal(out, &info); jerr != nil && err == nil {
		err = jerr
	}
	if err != nil || info.Error != "" || info.Dir == "" {
		var ee *exec.ExitError
		msg := info.Error
		if errors.As(err, &ee) && msg == "" {
			msg = strings.TrimSpace(string(ee.Stderr))
		}
		return "", fmt.Errorf("anchors: go mod download %s@%s: %v %s", t.Module, t.Version, err, msg)
	}
	return info.Dir, nil
}

// Build returns the path of the tool's binary, building it on first use into
// <cache>/<module@version>/ under a file lock (concurrent callers, also in other
// processes, wait for one build). A cold build takes minutes on two cores.
func Build(ctx context.Context, t Tool, log *slog.Logger) (string, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cache := os.Getenv(CacheDirEnv)
	if cache == "" {
		wd, err := os.Getwd()
		if err != nil {
			return "", err
		}
		root, err := testenv.FindRepoRoot(wd)
		if err != nil {
			return "", err
		}
		cache = filepath.Join(root, ".cache", "anchors")
	}
	dir := filepath.Join(cache, t.key())
	bin := filepath.Join(dir, t.Binary)
	if isExecutable(bin) {
		return bin, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("anchors: %w", err)
	}
	unlock, err := testenv.LockFile(ctx, filepath.Join(dir, ".lock"), log)
	if err != nil {
		return "", err
	}
	defer unlock()
	if isExecutable(bin) {
		return bin, nil
	}
	src, err := t.Source(ctx)
	if err != nil {
		return "", err
	}
	log.Info("anchors: building", "module", t.Module, "version", t.Version, "package", t.Package, "toolchain", t.Toolchain)
	tmp := bin + ".tmp"
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", tmp, t.Package)
	cmd.Dir = src
	cmd.Env = t.env()
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("anchors: building %s@%s %s: %w\n%s", t.Module, t.Version, t.Package, err, tail(out, 4000))
	}
	if err := os.Rename(tmp, bin); err != nil {
		return "", fmt.Errorf("anchors: %w", err)
	}
	return bin, nil
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
