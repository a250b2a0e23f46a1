package controlplane

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"
)

// These tests need no control plane.

func TestGoModModulePath(t *testing.T) {
	assert.Equal(t, "github.com/agentops/progressive", goModModulePath([]byte("// c\nmodule github.com/agentops/progressive\n\ngo 1.26\n")))
	assert.Equal(t, "x/y", goModModulePath([]byte(`module "x/y"`)))
	assert.Equal(t, "", goModModulePath([]byte("go 1.26\n")))
	assert.Equal(t, "", goModModulePath([]byte("modulex foo\n")))
}

func TestFindRepoRootAndCacheKey(t *testing.T) {
	wd, err := os.Getwd()
	require.NoError(t, err)
	root, err := FindRepoRoot(wd)
	require.NoError(t, err)
	assert.FileExists(t, filepath.Join(root, "tools", "k8s", "go.mod"))
	key, err := CacheKey()
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(key, "k8s-"+KubernetesVersion+"_etcd-"+EtcdVersion+"_kwok-"+KwokVersion+"_"), key)

	_, err = FindRepoRoot(t.TempDir())
	assert.Error(t, err)
}

func TestTailLines(t *testing.T) {
	assert.Equal(t, "c\nd", tailLines([]byte("a\nb\nc\nd\n"), 2))
	assert.Equal(t, "a\nb", tailLines([]byte("a\nb\n"), 5))
	assert.Equal(t, "a\nb", tailLines([]byte("a\nb"), 0))
}

func TestDNSLabel(t *testing.T) {
	assert.Equal(t, "t-testfoo-sub-case-1", dnsLabel("t-TestFoo/sub_case#1"))
	assert.Equal(t, "ns-9abc", dnsLabel("9abc"))
	assert.Equal(t, "ns", dnsLabel("///"))
}

func writeFakeStages(t *testing.T) string {
	dir := t.TempDir()
	for _, f := range kwokStageFiles {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		doc := "apiVersion: kwok.x-k8s.io/v1alpha1\nkind: Stage\nmetadata:\n  name: " + name +
			"\nspec:\n  resourceRef:\n    apiGroup: v1\n    kind: Pod\n  selector:\n    matchExpressions:\n    - key: '.status.phase'\n      operator: 'In'\n      values: ['Pending']\n"
		require.NoError(t, os.WriteFile(filepath.Join(dir, filepath.Base(f)), []byte(doc), 0o644))
	}
	return dir
}

func TestStageConfig(t *testing.T) {
	dir := writeFakeStages(t)
	extra := "apiVersion: kwok.x-k8s.io/v1alpha1\nkind: Stage\nmetadata:\n  name: mine\nspec: {}\n---\n# nothing\n"
	out, err := stageConfig(dir, []string{extra})
	require.NoError(t, err)
	docs, err := splitYAML(out)
	require.NoError(t, err)
	require.Len(t, docs, len(kwokStageFiles)+2)

	var names []string
	for _, d := range docs {
		var st struct {
			Metadata struct{ Name string }
			Spec     struct {
				Selector struct {
					MatchExpressions []struct{ Key, Operator string }
				}
			}
		}
		require.NoError(t, yaml.Unmarshal(d, &st))
		names = append(names, st.Metadata.Name)
		switch st.Metadata.Name {
		case "pod-ready":
			require.Len(t, st.Spec.Selector.MatchExpressions, 3)
			assert.Equal(t, neverReadyQuery, st.Spec.Selector.MatchExpressions[1].Key)
			assert.Equal(t, "DoesNotExist", st.Spec.Selector.MatchExpressions[1].Operator)
			assert.Equal(t, customStageQuery, st.Spec.Selector.MatchExpressions[2].Key)
		case "testenv-pod-never-ready":
			require.Len(t, st.Spec.Selector.MatchExpressions, 4)
			assert.Equal(t, neverReadyQuery, st.Spec.Selector.MatchExpressions[3].Key)
			assert.Equal(t, "Exists", st.Spec.Selector.MatchExpressions[3].Operator)
		}
	}
	assert.Equal(t, []string{"node-initialize", "node-heartbeat-with-lease", "pod-ready", "pod-complete", "pod-delete",
		"testenv-pod-never-ready", "mine"}, names)

	_, err = stageConfig(dir, []string{"apiVersion: v1\nkind: ConfigMap\n"})
	assert.ErrorContains(t, err, "want Stage")
}

func TestKubeVersionLDFlags(t *testing.T) {
	f := kubeVersionLDFlags()
	assert.Contains(t, f, "-X k8s.io/component-base/version.gitVersion="+KubernetesVersion)
	assert.Contains(t, f, "-X k8s.io/component-base/version.gitMajor=1")
	assert.Contains(t, f, "-X k8s.io/client-go/pkg/version.gitMinor=37")
}

func TestRequired(t *testing.T) {
	t.Setenv("CI", "true")
	t.Setenv(RequiredEnv, "")
	assert.True(t, Required())
	t.Setenv("CI", "")
	assert.False(t, Required())
	t.Setenv(RequiredEnv, "1")
	assert.True(t, Required())
}

func TestModuleFile(t *testing.T) {
	path, err := ModuleFile("sigs.k8s.io/gateway-api", "config", "crd", "standard", "gateway.networking.k8s.io_httproutes.yaml")
	require.NoError(t, err)
	assert.FileExists(t, path)
	_, err = ModuleFile("sigs.k8s.io/gateway-api", "no", "such", "file.yaml")
	require.ErrorIs(t, err, os.ErrNotExist)
	_, err = ModuleFile("example.com/not/in/the/graph", "x")
	assert.ErrorContains(t, err, "go list -m example.com/not/in/the/graph")
}
