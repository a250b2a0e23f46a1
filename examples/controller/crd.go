package main

import (
	"context"
	"embed"
	"fmt"
	"os"
	"path/filepath"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"
)

// crdFiles are the CRD manifests, embedded so that the program installs them
// wherever it runs from.
//
//go:embed config/crd/*.yaml
var crdFiles embed.FS

const crdFile = "config/crd/progressive.agentops.dev_progressiverollouts.yaml"

var crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// writeCRD writes the CRD manifest into dir and returns its path (for
// testenv.Options.CRDs).
func writeCRD(dir string) (string, error) {
	b, err := crdFiles.ReadFile(crdFile)
	if err != nil {
		return "", fmt.Errorf("crd: %w", err)
	}
	path := filepath.Join(dir, filepath.Base(crdFile))
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return "", fmt.Errorf("crd: %w", err)
	}
	return path, nil
}

// installCRD creates the CRD, or updates it, and waits until it is
// Established, as `kubectl apply -f config/crd/` and `kubectl wait
// --for=condition=Established` would.
func installCRD(ctx context.Context, cfg *rest.Config) error {
	b, err := crdFiles.ReadFile(crdFile)
	if err != nil {
		return fmt.Errorf("crd: %w", err)
	}
	var obj map[string]any
	if err := yaml.Unmarshal(b, &obj); err != nil {
		return fmt.Errorf("crd %s: %w", crdFile, err)
	}
	crd := &unstructured.Unstructured{Object: obj}
	dc, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("crd: client: %w", err)
	}
	client := dc.Resource(crdGVR)
	_, err = client.Create(ctx, crd, metav1.CreateOptions{FieldManager: DefaultName})
	if apierrors.IsAlreadyExists(err) {
		var cur *unstructured.Unstructured
		if cur, err = client.Get(ctx, crd.GetName(), metav1.GetOptions{}); err == nil {
			crd.SetResourceVersion(cur.GetResourceVersion())
			_, err = client.Update(ctx, crd, metav1.UpdateOptions{FieldManager: DefaultName})
		}
	}
	if err != nil {
		return fmt.Errorf("crd %s: %w", crd.GetName(), err)
	}
	return wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		cur, err := client.Get(ctx, crd.GetName(), metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		conds, _, _ := unstructured.NestedSlice(cur.Object, "status", "conditions")
		for _, c := range conds {
			m, _ := c.(map[string]any)
			if m["type"] == "Established" && m["status"] == "True" {
				return true, nil
			}
		}
		return false, nil
	})
}
