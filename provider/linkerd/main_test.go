package linkerd_test

import (
	"context"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/agentops/progressive/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	os.Exit(testenv.RunMain(m, testenv.Options{ModuleCRDs: []testenv.ModuleCRD{testenv.HTTPRouteCRD()}}, &env))
}

var (
	smiOnce sync.Once
	smiErr  error
)

// installSplitCRD installs the TrafficSplit CRD of smi-sdk-go's crds/split.yaml
// as it is written (v1alpha4 served and stored), once per package run.
func installSplitCRD(t *testing.T, e *testenv.Env) {
	t.Helper()
	smiOnce.Do(func() { smiErr = applySplitCRD(e, nil) })
	require.NoError(t, smiErr)
}

// applySplitCRD applies the TrafficSplit CRD of smi-sdk-go's crds/split.yaml,
// which is written as apiextensions.k8s.io/v1beta1 (no longer served),
// converted to v1 with the same schema. served, when not nil, replaces which
// versions are served; the first one listed is stored (linkerd-smi serves
// v1alpha1 and v1alpha2, storing v1alpha2).
func applySplitCRD(e *testenv.Env, served []string) error {
	path, err := testenv.ModuleFile("github.com/servicemeshinterface/smi-sdk-go", "crds", "split.yaml")
	if err != nil {
		return err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var old map[string]any
	if err := yaml.Unmarshal(data, &old); err != nil {
		return err
	}
	spec, _ := old["spec"].(map[string]any)
	schemaV, _, _ := unstructured.NestedMap(old, "spec", "validation", "openAPIV3Schema")
	schemaV["type"] = "object"
	var versions []any
	for _, v := range spec["versions"].([]any) {
		m := v.(map[string]any)
		isServed, isStored := m["served"], m["storage"]
		if served != nil {
			isServed, isStored = slices.Contains(served, m["name"].(string)), served[0] == m["name"]
		}
		versions = append(versions, map[string]any{
			"name": m["name"], "served": isServed, "storage": isStored,
			"schema": map[string]any{"openAPIV3Schema": schemaV},
		})
	}
	crd := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
		"metadata": map[string]any{"name": "trafficsplits.split.smi-spec.io"},
		"spec": map[string]any{
			"group": spec["group"], "scope": spec["scope"], "names": spec["names"], "versions": versions,
		},
	}}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return e.ApplyCRDs(ctx, crd)
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// services creates the stable and canary Services of name in ns.
func services(t *testing.T, e *testenv.Env, ns string, names ...string) {
	for _, n := range names {
		for _, s := range []string{n, n + "-canary"} {
			_, err := e.Clientset().CoreV1().Services(ns).Create(ctxT(t), &corev1.Service{
				ObjectMeta: metav1.ObjectMeta{Name: s},
				Spec:       corev1.ServiceSpec{Selector: map[string]string{"app": n}, Ports: []corev1.ServicePort{{Port: 8080}}},
			}, metav1.CreateOptions{})
			require.NoError(t, err)
		}
	}
}
