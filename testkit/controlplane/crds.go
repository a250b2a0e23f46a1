package controlplane

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"
)

var crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// InstallCRDs creates (or updates) the CustomResourceDefinitions in the
// given YAML/JSON files, which may hold several documents, or in the
// *.yaml, *.yml and *.json files of given directories (not recursive), and
// waits until each is Established and its versions are served by
// discovery. Documents of other kinds are an error.
func (e *Env) InstallCRDs(ctx context.Context, paths ...string) error {
	var crds []*unstructured.Unstructured
	for _, p := range paths {
		files, err := crdFiles(p)
		if err != nil {
			return err
		}
		for _, f := range files {
			objs, err := readCRDs(f)
			if err != nil {
				return err
			}
			crds = append(crds, objs...)
		}
	}
	return e.ApplyCRDs(ctx, crds...)
}

// ApplyCRDs creates or updates CRD objects and waits as InstallCRDs does.
// Without a deadline in ctx it gives up after a minute.
func (e *Env) ApplyCRDs(ctx context.Context, crds ...*unstructured.Unstructured) error {
	ctx, cancel := waitCtx(ctx, time.Minute)
	defer cancel()
	client := e.dynamic.Resource(crdGVR)
	for _, crd := range crds {
		crd = crd.DeepCopy()
		_, err := client.Create(ctx, crd, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			var cur *unstructured.Unstructured
			if cur, err = client.Get(ctx, crd.GetName(), metav1.GetOptions{}); err == nil {
				crd.SetResourceVersion(cur.GetResourceVersion())
				_, err = client.Update(ctx, crd, metav1.UpdateOptions{})
			}
		}
		if err != nil {
			return fmt.Errorf("controlplane: applying CRD %s: %w", crd.GetName(), err)
		}
	}
	for _, crd := range crds {
		name := crd.GetName()
		if err := e.waitFor(ctx, "CRD "+name+" Established", func(ctx context.Context) error {
			cur, err := client.Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			conds, _, _ := unstructured.NestedSlice(cur.Object, "status", "conditions")
			for _, c := range conds {
				m, _ := c.(map[string]any)
				if m["type"] == "Established" && m["status"] == "True" {
					return nil
				}
			}
			return errors.New("not Established yet")
		}); err != nil {
			return err
		}
		group, _, _ := unstructured.NestedString(crd.Object, "spec", "group")
		plural, _, _ := unstructured.NestedString(crd.Object, "spec", "names", "plural")
		versions, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
		for _, v := range versions {
			m, _ := v.(map[string]any)
			vname, _ := m["name"].(string)
			if served, _ := m["served"].(bool); !served || vname == "" {
				continue
			}
			gv := group + "/" + vname
			if err := e.waitFor(ctx, "discovery of "+plural+"."+gv, func(ctx context.Context) error {
				list, err := e.clientset.Discovery().ServerResourcesForGroupVersion(gv)
				if err != nil {
					return err
				}
				if !slices.ContainsFunc(list.APIResources, func(r metav1.APIResource) bool { return r.Name == plural }) {
					return errors.New("not in discovery yet")
				}
				return nil
			}); err != nil {
				return err
			}
		}
	}
	return nil
}

func crdFiles(p string) ([]string, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return nil, fmt.Errorf("controlplane: CRD path: %w", err)
	}
	if !fi.IsDir() {
		return []string{p}, nil
	}
	entries, err := os.ReadDir(p)
	if err != nil {
		return nil, err
	}
	var files []string
	for _, e := range entries {
		ext := strings.ToLower(filepath.Ext(e.Name()))
		if !e.IsDir() && (ext == ".yaml" || ext == ".yml" || ext == ".json") {
			files = append(files, filepath.Join(p, e.Name()))
		}
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("controlplane: no *.yaml, *.yml or *.json files in %s", p)
	}
	return files, nil
}

func readCRDs(path string) ([]*unstructured.Unstructured, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("controlplane: %w", err)
	}
	docs, err := splitYAML(data)
	if err != nil {
		return nil, fmt.Errorf("controlplane: %s: %w", path, err)
	}
	var out []*unstructured.Unstructured
	for i, d := range docs {
		obj := map[string]any{}
		if err := yaml.Unmarshal(d, &obj); err != nil {
			return nil, fmt.Errorf("controlplane: %s document %d: %w", path, i+1, err)
		}
		u := &unstructured.Unstructured{Object: obj}
		if u.GetKind() != "CustomResourceDefinition" || u.GroupVersionKind().Group != "apiextensions.k8s.io" {
			return nil, fmt.Errorf("controlplane: %s document %d: kind %q (%s), want apiextensions.k8s.io CustomResourceDefinition",
				path, i+1, u.GetKind(), u.GetAPIVersion())
		}
		out = append(out, u)
	}
	return out, nil
}

// waitCtx is a small helper for callers without a deadline.
func waitCtx(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
}
