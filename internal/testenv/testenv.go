package testenv

import (
	"context"
	"log/slog"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/agentops/progressive/testkit/controlplane"
)

// Types, all aliases, so values pass freely between the two packages.
type (
	Env          = controlplane.Env
	Options      = controlplane.Options
	Binaries     = controlplane.Binaries
	BuildOptions = controlplane.BuildOptions
	ModuleCRD    = controlplane.ModuleCRD
)

// Constants, with the values of controlplane's.
const (
	KubernetesVersion       = controlplane.KubernetesVersion
	EtcdVersion             = controlplane.EtcdVersion
	KwokVersion             = controlplane.KwokVersion
	ModulePath              = controlplane.ModulePath
	BinDirEnv               = controlplane.BinDirEnv
	CacheDirEnv             = controlplane.CacheDirEnv
	RequiredEnv             = controlplane.RequiredEnv
	KeepDirEnv              = controlplane.KeepDirEnv
	DefaultNodes            = controlplane.DefaultNodes
	DefaultStartTimeout     = controlplane.DefaultStartTimeout
	FakeNodeAnnotationKey   = controlplane.FakeNodeAnnotationKey
	FakeNodeAnnotationValue = controlplane.FakeNodeAnnotationValue
	NamespaceLabel          = controlplane.NamespaceLabel
	NeverReadyLabel         = controlplane.NeverReadyLabel
	NeverReadyImageMarker   = controlplane.NeverReadyImageMarker
	CustomStageLabel        = controlplane.CustomStageLabel
	NeverReadyStage         = controlplane.NeverReadyStage
)

// Start forwards to controlplane.Start.
func Start(ctx context.Context, opts Options) (*Env, error) { return controlplane.Start(ctx, opts) }

// RunMain forwards to controlplane.RunMain.
func RunMain(m *testing.M, opts Options, env **Env) int { return controlplane.RunMain(m, opts, env) }

// StartForTest forwards to controlplane.StartForTest.
func StartForTest(t testing.TB, opts Options) *Env {
	t.Helper()
	return controlplane.StartForTest(t, opts)
}

// Required forwards to controlplane.Required.
func Required() bool { return controlplane.Required() }

// EnsureBinaries forwards to controlplane.EnsureBinaries.
func EnsureBinaries(ctx context.Context, opts BuildOptions) (*Binaries, error) {
	return controlplane.EnsureBinaries(ctx, opts)
}

// FindRepoRoot forwards to controlplane.FindRepoRoot.
func FindRepoRoot(dir string) (string, error) { return controlplane.FindRepoRoot(dir) }

// CacheKey returns controlplane.CacheKey. repoRoot is no longer read: the
// key comes from the pins embedded in controlplane, which a test there keeps
// equal to the checkout's tools/ modules.
func CacheKey(repoRoot string) (string, error) { return controlplane.CacheKey() }

// LockFile forwards to controlplane.LockFile.
func LockFile(ctx context.Context, path string, log *slog.Logger) (func(), error) {
	return controlplane.LockFile(ctx, path, log)
}

// ModuleFile forwards to controlplane.ModuleFile.
func ModuleFile(module string, elem ...string) (string, error) {
	return controlplane.ModuleFile(module, elem...)
}

// IstioCRDs forwards to controlplane.IstioCRDs.
func IstioCRDs() ModuleCRD { return controlplane.IstioCRDs() }

// HTTPRouteCRD forwards to controlplane.HTTPRouteCRD.
func HTTPRouteCRD() ModuleCRD { return controlplane.HTTPRouteCRD() }

// FakeNode forwards to controlplane.FakeNode.
func FakeNode(name string, capacity corev1.ResourceList) *corev1.Node {
	return controlplane.FakeNode(name, capacity)
}
