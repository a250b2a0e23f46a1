package controlplane

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// Pinned versions of the control plane. They must match the versions
// required by the tools modules (EnsureBinaries checks this before it builds
// anything).
const (
	// KubernetesVersion is the version of kube-apiserver,
	// kube-controller-manager and kube-scheduler (module k8s.io/kubernetes
	// in tools/k8s).
	KubernetesVersion = "v1.37.2"
	// EtcdVersion is the version of etcd (module go.etcd.io/etcd/server/v3
	// in tools/etcd).
	EtcdVersion = "v3.7.3"
	// KwokVersion is the version of kwok (module sigs.k8s.io/kwok in
	// tools/kwok).
	KwokVersion = "v0.8.0"

	// ModulePath is the module path of this repository; the repository
	// root is the directory of the go.mod that declares it.
	ModulePath = "github.com/agentops/progressive"

	// BinDirEnv names the environment variable that points at a directory
	// of prebuilt binaries (etcd, kube-apiserver, kube-controller-manager,
	// kube-scheduler, kwok and optionally a stages/ directory with the kwok
	// stage files). When it is set nothing is built.
	BinDirEnv = "PROGRESSIVE_TESTENV_BIN"

	// CacheDirEnv names the environment variable that sets where built
	// binaries are cached, one subdirectory per CacheKey. Pointing several
	// checkouts or modules at one directory lets them share a build. It
	// works from any module: the pins are embedded in this package.
	CacheDirEnv = "PROGRESSIVE_TESTENV_CACHE"

	// UserCacheSubdir is the directory under os.UserCacheDir() that holds
	// the binaries when the caller is not inside this repository and no
	// cache directory is given: <user cache>/progressive-testkit/bin.
	UserCacheSubdir = "progressive-testkit"

	// recipeVersion is part of the cache key: bump it when the way the
	// binaries are built changes (flags, file layout), so caches rebuild.
	recipeVersion = "1"
)

// Binary file names inside a binaries directory.
const (
	binEtcd                  = "etcd"
	binKubeAPIServer         = "kube-apiserver"
	binKubeControllerManager = "kube-controller-manager"
	binKubeScheduler         = "kube-scheduler"
	binKwok                  = "kwok"
	stagesDirName            = "stages"
	stampFileName            = "stamp.json"
)

// toolsModules are the nested modules under tools/ that pin the binaries, in
// the order the cache key hashes them.
var toolsModules = []string{"k8s", "etcd", "kwok"}

// pins holds copies of tools/<m>/go.mod and go.sum as pins/<m>.go.mod and
// pins/<m>.go.sum. They are embedded because a module that imports this
// package from the module cache sees neither tools/ (nested modules are not
// part of a module's zip) nor a writable directory to build in: the build
// writes them to a temporary module instead. The names avoid "go.mod", which
// would make pins/ a module of its own and unembeddable. TestPinsMatchTools
// keeps them equal to tools/; refresh them with go generate.
//
//go:generate sh -c "for m in k8s etcd kwok; do cp ../../tools/$DOLLAR{m}/go.mod pins/$DOLLAR{m}.go.mod && cp ../../tools/$DOLLAR{m}/go.sum pins/$DOLLAR{m}.go.sum; done"
//go:embed pins
var pins embed.FS

// pinFile returns the embedded copy of tools/<module>/<name> (go.mod or go.sum).
func pinFile(module, name string) ([]byte, error) {
	return pins.ReadFile("pins/" + module + "." + name)
}

// kwokStageFiles are the stage files copied from the kwok module's
// kustomize/stage/ directory (paths relative to it).
var kwokStageFiles = []string{
	"node/fast/node-initialize.yaml",
	"node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
	"pod/fast/pod-ready.yaml",
	"pod/fast/pod-complete.yaml",
	"pod/fast/pod-delete.yaml",
}

// Binaries are the paths of the control plane executables.
type Binaries struct {
	// Dir is the directory holding all of them.
	Dir                   string
	Etcd                  string
	KubeAPIServer         string
	KubeControllerManager string
	KubeScheduler         string
	Kwok                  string
	// StagesDir holds the kwok stage files (node-initialize.yaml,
	// node-heartbeat-with-lease.yaml, pod-ready.yaml, pod-complete.yaml,
	// pod-delete.yaml) copied from the kwok module, or is the kwok module's
	// kustomize/stage/ directory itself (with $PROGRESSIVE_TESTENV_BIN and
	// no stages/ directory there).
	StagesDir string
}

// BuildOptions configure EnsureBinaries. The zero value is ready to use.
type BuildOptions struct {
	// RepoRoot is the root of a checkout of this repository (the directory
	// of the go.mod of ModulePath). It only chooses the default cache
	// directory (<RepoRoot>/.cache/testenv/bin) and lets EnsureBinaries
	// check that the checkout's tools/ modules match the embedded pins.
	// Default: found by walking up from the working directory; outside a
	// checkout (another module) there is none, and that is fine.
	RepoRoot string
	// BinDir, if set, is a directory with prebuilt binaries; nothing is
	// built. Default: the value of $PROGRESSIVE_TESTENV_BIN.
	BinDir string
	// CacheDir is where built binaries are kept, one subdirectory per
	// CacheKey. Default: $PROGRESSIVE_TESTENV_CACHE, else
	// <repo root>/.cache/testenv/bin inside a checkout of this repository,
	// else os.UserCacheDir()/progressive-testkit/bin.
	CacheDir string
	// Logger receives progress messages. Default: discard.
	Logger *slog.Logger
	// BuildOutput, if set, also receives the output of `go build`.
	BuildOutput io.Writer
}

// FindRepoRoot walks up from dir to the directory whose go.mod declares
// module ModulePath.
func FindRepoRoot(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for d := dir; ; {
		data, err := os.ReadFile(filepath.Join(d, "go.mod"))
		if err == nil && goModModulePath(data) == ModulePath {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", fmt.Errorf("controlplane: no go.mod of module %s in %s or any parent directory", ModulePath, dir)
		}
		d = parent
	}
}

func goModModulePath(data []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if rest, ok := strings.CutPrefix(line, "module"); ok && (rest == "" || rest[0] == ' ' || rest[0] == '\t') {
			return strings.Trim(strings.TrimSpace(rest), `"`)
		}
	}
	return ""
}

// CacheKey returns the name of the cache directory for the current pins:
// the versions plus a hash of the tools modules' go.mod and go.sum files
// (the embedded copies) and of the build recipe, so any change of a pin or
// dependency rebuilds. The key is the same in every module that uses the
// same version of this package, so they can share a cache directory.
func CacheKey() (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "recipe=%s\nos=%s\narch=%s\n", recipeVersion, runtime.GOOS, runtime.GOARCH)
	for _, mod := range toolsModules {
		for _, f := range []string{"go.mod", "go.sum"} {
			data, err := pinFile(mod, f)
			if err != nil {
				return "", fmt.Errorf("controlplane: embedded pin %s/%s: %w", mod, f, err)
			}
			fmt.Fprintf(h, "%s/%s %d\n", mod, f, len(data))
			h.Write(data)
		}
	}
	sum := hex.EncodeToString(h.Sum(nil))[:12]
	return fmt.Sprintf("k8s-%s_etcd-%s_kwok-%s_%s", KubernetesVersion, EtcdVersion, KwokVersion, sum), nil
}

// CheckPins compares the tools modules of the checkout at repoRoot with the
// embedded pins. A difference means someone changed tools/ without running
// go generate ./testkit/controlplane: building from either would not give
// what the other says, so EnsureBinaries refuses.
func CheckPins(repoRoot string) error {
	var stale []string
	for _, mod := range toolsModules {
		for _, f := range []string{"go.mod", "go.sum"} {
			onDisk, err := os.ReadFile(filepath.Join(repoRoot, "tools", mod, f))
			if err != nil {
				return fmt.Errorf("controlplane: %w", err)
			}
			embedded, err := pinFile(mod, f)
			if err != nil {
				return err
			}
			if !bytes.Equal(onDisk, embedded) {
				stale = append(stale, "tools/"+mod+"/"+f)
			}
		}
	}
	if len(stale) > 0 {
		return fmt.Errorf("controlplane: %s differ from the copies embedded in testkit/controlplane/pins; run go generate ./testkit/controlplane", strings.Join(stale, ", "))
	}
	return nil
}

// DefaultCacheDir returns where EnsureBinaries keeps built binaries when no
// cache directory is given: $PROGRESSIVE_TESTENV_CACHE, else
// <repoRoot>/.cache/testenv/bin when repoRoot is not empty, else
// os.UserCacheDir()/progressive-testkit/bin.
func DefaultCacheDir(repoRoot string) (string, error) {
	if d := os.Getenv(CacheDirEnv); d != "" {
		return filepath.Abs(d)
	}
	if repoRoot != "" {
		return filepath.Join(repoRoot, ".cache", "testenv", "bin"), nil
	}
	uc, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("controlplane: no cache directory: set $%s or $%s, or BuildOptions.CacheDir: %w", CacheDirEnv, BinDirEnv, err)
	}
	return filepath.Join(uc, UserCacheSubdir, "bin"), nil
}

func binariesIn(dir string) *Binaries {
	return &Binaries{
		Dir:                   dir,
		Etcd:                  filepath.Join(dir, binEtcd),
		KubeAPIServer:         filepath.Join(dir, binKubeAPIServer),
		KubeControllerManager: filepath.Join(dir, binKubeControllerManager),
		KubeScheduler:         filepath.Join(dir, binKubeScheduler),
		Kwok:                  filepath.Join(dir, binKwok),
		StagesDir:             filepath.Join(dir, stagesDirName),
	}
}

func (b *Binaries) missing(withStamp bool) []string {
	var missing []string
	for _, p := range []string{b.Etcd, b.KubeAPIServer, b.KubeControllerManager, b.KubeScheduler, b.Kwok} {
		if fi, err := os.Stat(p); err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
			missing = append(missing, p)
		}
	}
	for _, f := range kwokStageFiles {
		if _, err := os.Stat(stageFile(b.StagesDir, f)); err != nil {
			missing = append(missing, filepath.Join(b.StagesDir, filepath.Base(f)))
		}
	}
	if withStamp {
		p := filepath.Join(b.Dir, stampFileName)
		if _, err := os.Stat(p); err != nil {
			missing = append(missing, p)
		}
	}
	return missing
}

// EnsureBinaries returns the control plane binaries, building them on first
// use.
//
// With BuildOptions.BinDir or $PROGRESSIVE_TESTENV_BIN set, that directory
// is used as is (if it has no stages/ directory, the kwok stage files are
// taken from the pinned kwok module). Otherwise the binaries live in
// <cache dir>/<CacheKey>/ (see BuildOptions.CacheDir for the default) and
// are built there with `go build` from the pinned tools modules when
// missing. The tools modules' go.mod and go.sum are embedded in this
// package and written to a temporary directory for the build, so it works
// from any module, including from the read-only module cache copy of this
// one; it needs the Go toolchain and the Go module proxy (or a module cache
// that already holds the pinned modules).
//
// A file lock (.lock in the cache directory) makes concurrent callers, also
// in other processes, wait for one build instead of building twice. After a
// build in a checkout's own .cache directory, directories of older pins are
// removed.
//
// A cold build of the Kubernetes binaries takes several minutes and a few
// GB of memory and build cache; when nothing changed it takes a few
// milliseconds.
func EnsureBinaries(ctx context.Context, opts BuildOptions) (*Binaries, error) {
	log := opts.Logger
	if log == nil {
		log = discardLogger()
	}
	binDir := opts.BinDir
	if binDir == "" {
		binDir = os.Getenv(BinDirEnv)
	}
	if binDir != "" {
		return prebuiltBinaries(ctx, binDir)
	}

	root := opts.RepoRoot
	if root == "" {
		// Inside a checkout of this repository the binaries go to its
		// .cache, as they always have; anywhere else there is no root.
		if wd, err := os.Getwd(); err == nil {
			root, _ = FindRepoRoot(wd)
		}
	}
	if root != "" {
		if err := CheckPins(root); err != nil {
			return nil, err
		}
	}
	key, err := CacheKey()
	if err != nil {
		return nil, err
	}
	cacheDir := opts.CacheDir
	if cacheDir == "" {
		if cacheDir, err = DefaultCacheDir(root); err != nil {
			return nil, err
		}
	}
	if cacheDir, err = filepath.Abs(cacheDir); err != nil {
		return nil, err
	}
	bins := binariesIn(filepath.Join(cacheDir, key))
	if len(bins.missing(true)) == 0 {
		return bins, nil
	}

	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return nil, err
	}
	unlock, err := LockFile(ctx, filepath.Join(cacheDir, ".lock"), log)
	if err != nil {
		return nil, err
	}
	defer unlock()

	// Another process may have built them while we waited for the lock.
	if len(bins.missing(true)) == 0 {
		return bins, nil
	}
	start := time.Now()
	log.Info("controlplane: building control plane binaries (first use or pins changed; a cold build takes minutes)",
		"dir", bins.Dir, "kubernetes", KubernetesVersion, "etcd", EtcdVersion, "kwok", KwokVersion)
	if err := build(ctx, bins.Dir, log, opts.BuildOutput); err != nil {
		return nil, err
	}
	log.Info("controlplane: built control plane binaries", "dir", bins.Dir, "took", time.Since(start).Round(time.Millisecond))

	// Drop binaries of older pins, but only in a checkout's own cache: a
	// shared directory may serve other versions still in use.
	if root != "" && cacheDir == filepath.Join(root, ".cache", "testenv", "bin") {
		entries, _ := os.ReadDir(cacheDir)
		for _, e := range entries {
			if e.IsDir() && e.Name() != key && strings.HasPrefix(e.Name(), "k8s-") {
				_ = os.RemoveAll(filepath.Join(cacheDir, e.Name()))
			}
		}
	}
	return bins, nil
}

func prebuiltBinaries(ctx context.Context, dir string) (*Binaries, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	bins := binariesIn(dir)
	if _, err := os.Stat(bins.StagesDir); err != nil {
		// No stages/ next to the binaries: use the pinned kwok module's.
		tmp, err := os.MkdirTemp("", "progressive-testkit-pins-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		src, err := writePinnedModules(tmp)
		if err != nil {
			return nil, err
		}
		moduleDir, err := goListModuleDir(ctx, filepath.Join(src, "kwok"), "sigs.k8s.io/kwok")
		if err != nil {
			return nil, fmt.Errorf("controlplane: %s has no %s/ directory, and the kwok module is not available: %w", dir, stagesDirName, err)
		}
		bins.StagesDir = filepath.Join(moduleDir, "kustomize", "stage")
	}
	if missing := bins.missing(false); len(missing) > 0 {
		return nil, fmt.Errorf("controlplane: $%s=%s lacks %s", BinDirEnv, dir, strings.Join(missing, ", "))
	}
	return bins, nil
}

// writePinnedModules writes the embedded tools modules to dir/<module>/
// (go.mod and go.sum only: the modules have no code of their own) and
// returns dir.
func writePinnedModules(dir string) (string, error) {
	for _, mod := range toolsModules {
		if err := os.MkdirAll(filepath.Join(dir, mod), 0o755); err != nil {
			return "", err
		}
		for _, f := range []string{"go.mod", "go.sum"} {
			data, err := pinFile(mod, f)
			if err != nil {
				return "", err
			}
			if err := os.WriteFile(filepath.Join(dir, mod, f), data, 0o644); err != nil {
				return "", err
			}
		}
	}
	return dir, nil
}

// LockFile takes an exclusive flock on path, polling so that ctx can cancel
// the wait.
func LockFile(ctx context.Context, path string, log *slog.Logger) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	logged := false
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() {
				_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
				_ = f.Close()
			}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			_ = f.Close()
			return nil, fmt.Errorf("controlplane: locking %s: %w", path, err)
		}
		if !logged {
			log.Info("controlplane: waiting for another process that is building the binaries", "lock", path)
			logged = true
		}
		select {
		case <-ctx.Done():
			_ = f.Close()
			return nil, fmt.Errorf("controlplane: waiting for lock %s: %w", path, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

type buildStamp struct {
	Kubernetes string    `json:"kubernetes"`
	Etcd       string    `json:"etcd"`
	Kwok       string    `json:"kwok"`
	Go         string    `json:"go"`
	Built      time.Time `json:"built"`
	Seconds    float64   `json:"seconds"`
}

// kubeVersionLDFlags sets the version variables the Kubernetes build scripts
// set (hack/lib/version.sh), so the binaries report KubernetesVersion.
func kubeVersionLDFlags() string {
	v := strings.TrimPrefix(KubernetesVersion, "v")
	parts := strings.SplitN(v, ".", 3)
	major, minor := parts[0], ""
	if len(parts) > 1 {
		minor = parts[1]
	}
	flags := []string{"-s", "-w"}
	for _, pkg := range []string{"k8s.io/component-base/version", "k8s.io/client-go/pkg/version"} {
		flags = append(flags,
			"-X", pkg+".gitVersion="+KubernetesVersion,
			"-X", pkg+".gitMajor="+major,
			"-X", pkg+".gitMinor="+minor,
			"-X", pkg+".gitTreeState=clean",
		)
	}
	return strings.Join(flags, " ")
}

func build(ctx context.Context, dst string, log *slog.Logger, out io.Writer) error {
	start := time.Now()
	tmp := dst + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	buildLog, err := os.Create(filepath.Join(filepath.Dir(dst), "build.log"))
	if err != nil {
		return err
	}
	defer buildLog.Close()
	var w io.Writer = buildLog
	if out != nil {
		w = io.MultiWriter(buildLog, out)
	}

	// The tools modules are written next to the output, inside the cache
	// directory, which is writable wherever the module itself is not.
	src, err := writePinnedModules(dst + ".src")
	if err != nil {
		return err
	}
	defer os.RemoveAll(src)
	tools := func(m string) string { return filepath.Join(src, m) }

	// Check that the tools modules pin what the constants say.
	for _, pin := range []struct{ dir, module, version string }{
		{tools("k8s"), "k8s.io/kubernetes", KubernetesVersion},
		{tools("etcd"), "go.etcd.io/etcd/server/v3", EtcdVersion},
		{tools("kwok"), "sigs.k8s.io/kwok", KwokVersion},
	} {
		got, err := goList(ctx, pin.dir, "-m", "-f", "{{.Version}}", pin.module)
		if err != nil {
			return err
		}
		if got != pin.version {
			return fmt.Errorf("controlplane: tools module %s requires %s %s but testkit/controlplane pins %s; update one of them", filepath.Base(pin.dir), pin.module, got, pin.version)
		}
	}

	steps := []struct {
		name, dir, ldflags string
		out                string
		pkgs               []string
	}{
		{"kubernetes " + KubernetesVersion, tools("k8s"), kubeVersionLDFlags(), tmp + string(filepath.Separator), []string{
			"k8s.io/kubernetes/cmd/kube-apiserver",
			"k8s.io/kubernetes/cmd/kube-controller-manager",
			"k8s.io/kubernetes/cmd/kube-scheduler",
		}},
		{"etcd " + EtcdVersion, tools("etcd"), "-s -w", filepath.Join(tmp, binEtcd), []string{"go.etcd.io/etcd/server/v3"}},
		{"kwok " + KwokVersion, tools("kwok"), "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=" + strings.TrimPrefix(KwokVersion, "v"),
			filepath.Join(tmp, binKwok), []string{"sigs.k8s.io/kwok/cmd/kwok"}},
	}
	for _, s := range steps {
		stepStart := time.Now()
		log.Info("controlplane: go build", "what", s.name)
		args := append([]string{"build", "-trimpath", "-ldflags", s.ldflags, "-o", s.out}, s.pkgs...)
		cmd := exec.CommandContext(ctx, goTool(), args...)
		cmd.Dir = s.dir
		cmd.Env = goEnv("CGO_ENABLED=0")
		// A test binary killed mid-build (go test's -timeout, say) must not
		// leave an orphaned build writing into the cache beside the next one.
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		var tail tailBuffer
		cmd.Stdout = io.MultiWriter(w, &tail)
		cmd.Stderr = io.MultiWriter(w, &tail)
		fmt.Fprintf(w, "$ (cd %s && CGO_ENABLED=0 go %s)\n", s.dir, strings.Join(args, " "))
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("controlplane: building %s: %w\n%s", s.name, err, tail.String())
		}
		log.Info("controlplane: built", "what", s.name, "took", time.Since(stepStart).Round(time.Millisecond))
	}

	moduleDir, err := goListModuleDir(ctx, tools("kwok"), "sigs.k8s.io/kwok")
	if err != nil {
		return err
	}
	if err := copyStages(filepath.Join(moduleDir, "kustomize", "stage"), filepath.Join(tmp, stagesDirName)); err != nil {
		return err
	}

	stamp, _ := json.MarshalIndent(buildStamp{
		Kubernetes: KubernetesVersion, Etcd: EtcdVersion, Kwok: KwokVersion,
		Go: runtime.Version(), Built: time.Now().UTC(), Seconds: time.Since(start).Seconds(),
	}, "", "  ")
	if err := os.WriteFile(filepath.Join(tmp, stampFileName), append(stamp, '\n'), 0o644); err != nil {
		return err
	}
	if err := os.RemoveAll(dst); err != nil {
		return err
	}
	return os.Rename(tmp, dst)
}

// stageFile returns the path of kwok stage file f (a path relative to the
// kwok module's kustomize/stage/) in dir, which is either a flat copy (as
// EnsureBinaries makes) or the kwok module's kustomize/stage/ itself.
func stageFile(dir, f string) string {
	flat := filepath.Join(dir, filepath.Base(f))
	if _, err := os.Stat(flat); err == nil {
		return flat
	}
	return filepath.Join(dir, filepath.FromSlash(f))
}

func copyStages(srcRoot, dst string) error {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	for _, f := range kwokStageFiles {
		data, err := os.ReadFile(filepath.Join(srcRoot, filepath.FromSlash(f)))
		if err != nil {
			return fmt.Errorf("controlplane: kwok stage file: %w", err)
		}
		if err := os.WriteFile(filepath.Join(dst, filepath.Base(f)), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	// `go test` puts GOROOT/bin first on PATH, so this is a last resort.
	if gr := os.Getenv("GOROOT"); gr != "" {
		return filepath.Join(gr, "bin", "go")
	}
	return "go"
}

func goList(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, goTool(), append([]string{"list"}, args...)...)
	cmd.Dir = dir
	cmd.Env = goEnv()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("controlplane: go list %s in %s: %w\n%s", strings.Join(args, " "), dir, err, stderr.String())
	}
	return strings.TrimSpace(string(out)), nil
}

func goListModuleDir(ctx context.Context, dir, module string) (string, error) {
	d, err := goList(ctx, dir, "-m", "-f", "{{.Dir}}", module)
	if err != nil {
		return "", err
	}
	if d == "" {
		// Not extracted yet (only go.sum knows it): download it.
		cmd := exec.CommandContext(ctx, goTool(), "mod", "download", module)
		cmd.Dir = dir
		cmd.Env = goEnv()
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("controlplane: go mod download %s: %w\n%s", module, err, out)
		}
		if d, err = goList(ctx, dir, "-m", "-f", "{{.Dir}}", module); err != nil {
			return "", err
		}
	}
	if d == "" {
		return "", fmt.Errorf("controlplane: module %s not found on disk from %s", module, dir)
	}
	return d, nil
}

// tailBuffer keeps the last 8 KiB written to it.
type tailBuffer struct{ b []byte }

func (t *tailBuffer) Write(p []byte) (int, error) {
	const max = 8 << 10
	t.b = append(t.b, p...)
	if len(t.b) > max {
		t.b = t.b[len(t.b)-max:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string { return string(t.b) }

// goEnv is the environment of the go commands run in the temporary tools
// modules: no workspace, and the caller's GOFLAGS without -mod (a caller's
// -mod=vendor or -mod=mod means nothing to these modules; their go.mod and
// go.sum are complete, so the default -mod=readonly is what they need).
func goEnv(extra ...string) []string {
	var flags []string
	for _, f := range strings.Fields(os.Getenv("GOFLAGS")) {
		if !strings.HasPrefix(f, "-mod=") && !strings.HasPrefix(f, "--mod=") {
			flags = append(flags, f)
		}
	}
	env := append(os.Environ(), "GOWORK=off", "GOFLAGS="+strings.Join(flags, " "))
	return append(env, extra...)
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
