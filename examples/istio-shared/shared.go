// Package istioshared holds what the Istio examples (istio-canary,
// istio-bluegreen, istio-ab) share on top of k8s-shared: the Istio CRDs for the
// local control plane, applying the guide's manifests, a Workload on two
// Deployments that the mesh tells apart by a pod label (and that leaves the
// Service alone), a router wrapper that counts each traffic change's API writes
// and reads the VirtualService back with Istio's typed client, and a small
// evaluator of a VirtualService's HTTP routes: which route, and which subsets,
// a request gets.
package istioshared

import (
	"context"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	shared "github.com/agentops/progressive/examples/k8s-shared"
	"github.com/agentops/progressive/internal/testenv"
)

// CRDsEnv, when set, names the Istio CRD file (customresourcedefinitions.gen.yaml)
// to install in the local control plane instead of the one of the istio.io/api
// module.
const CRDsEnv = "PROGRESSIVE_ISTIO_CRDS"

// CRDs finds kubernetes/customresourcedefinitions.gen.yaml of the istio.io/api
// module this module builds with (testenv.ModuleFile: run the examples from
// inside the module), or the file $PROGRESSIVE_ISTIO_CRDS names.
func CRDs() (string, error) {
	if p := os.Getenv(CRDsEnv); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("$%s: %w", CRDsEnv, err)
		}
		return p, nil
	}
	crds := testenv.IstioCRDs()
	return testenv.ModuleFile(crds.Module, crds.Path...)
}

// TestenvOptions are k8s-shared's control plane options with the Istio CRDs
// installed.
func TestenvOptions() (testenv.Options, error) {
	crds, err := CRDs()
	if err != nil {
		return testenv.Options{}, err
	}
	opts := shared.TestenvOptions()
	opts.CRDs = append(opts.CRDs, crds)
	return opts, nil
}

// Connect is k8s-shared's Flags.Connect with the Istio CRDs installed in the
// local control plane (--testenv). Against a cluster (--kubeconfig) Istio must
// be installed already.
func Connect(ctx context.Context, f *shared.Flags, log io.Writer) (*rest.Config, func(), error) {
	if !f.Testenv {
		return f.Connect(ctx, log)
	}
	opts, err := TestenvOptions()
	if err != nil {
		return nil, nil, err
	}
	start := time.Now()
	fmt.Fprintln(log, "starting a local control plane (internal/testenv) with the Istio CRDs...")
	env, err := testenv.Start(ctx, opts)
	if err != nil {
		return nil, nil, err
	}
	fmt.Fprintf(log, "control plane ready in %s (start %s); kubeconfig %s\n", time.Since(start).Round(time.Millisecond), env.StartDuration().Round(time.Millisecond), env.Kubeconfig())
	return env.Config(), func() { _ = env.Stop() }, nil
}

// RunMain is testenv.RunMain with the Istio CRDs installed, for TestMain. When
// the CRD file cannot be found the tests run without a control plane and skip
// (or, under CI, the binary fails).
func RunMain(m *testing.M, env **testenv.Env) int {
	opts, err := TestenvOptions()
	if err != nil {
		fmt.Fprintf(os.Stderr, "istio examples: %v\n", err)
		if testenv.Required() {
			return 1
		}
		*env = nil
		return m.Run()
	}
	return testenv.RunMain(m, opts, env)
}

// Counter counts the API writes (every request but GET, HEAD and OPTIONS) made
// through a rest.Config from CountWrites.
type Counter struct{ writes atomic.Int64 }

// Writes returns the writes so far.
func (c *Counter) Writes() int64 { return c.writes.Load() }

type countingTransport struct {
	next http.RoundTripper
	c    *Counter
}

func (t countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
	default:
		t.c.writes.Add(1)
	}
	return t.next.RoundTrip(r)
}

// CountWrites returns a copy of cfg whose clients count their writes in the
// Counter. A cfg without a rate limit gets 50 requests per second (bursts of
// 100) instead of client-go's 5.
func CountWrites(cfg *rest.Config) (*rest.Config, *Counter) {
	cfg = rest.CopyConfig(cfg)
	if cfg.QPS == 0 {
		cfg.QPS, cfg.Burst = 50, 100
	}
	c := &Counter{}
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { return countingTransport{next: rt, c: c} })
	return cfg, c
}

// EnsureNamespace creates the namespace when missing and waits for its default
// ServiceAccount (pods cannot be created before it exists).
func EnsureNamespace(ctx context.Context, cs kubernetes.Interface, ns string) error {
	_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("namespace %s: %w", ns, err)
	}
	for {
		if _, err := cs.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{}); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Applied is one object of a manifest Apply went through.
type Applied struct {
	Kind, Name string
	// Existed is set when the object was there already and was left as it is.
	Existed bool
}

// Apply creates the objects of a multi-document YAML manifest in namespace ns
// (Deployments, Services, VirtualServices and DestinationRules, in any
// apiVersion the cluster serves), waits until every Deployment has rolled out,
// and returns what it did. Objects that exist already are the user's and are
// left as they are.
func Apply(ctx context.Context, cfg *rest.Config, ns, manifest string) ([]Applied, error) {
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	if err := EnsureNamespace(ctx, cs, ns); err != nil {
		return nil, err
	}
	var out []Applied
	for _, doc := range strings.Split("\n"+manifest, "\n---\n") {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		var obj map[string]any
		if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
			return out, fmt.Errorf("manifest: %w", err)
		}
		if len(obj) == 0 {
			continue
		}
		u := &unstructured.Unstructured{Object: obj}
		u.SetNamespace(ns)
		gv, err := schema.ParseGroupVersion(u.GetAPIVersion())
		if err != nil {
			return out, fmt.Errorf("manifest: %s %s: %w", u.GetKind(), u.GetName(), err)
		}
		var resource string
		switch u.GetKind() {
		case "Deployment", "Service", "VirtualService", "DestinationRule":
			resource = strings.ToLower(u.GetKind()) + "s"
		default:
			return out, fmt.Errorf("manifest: %s %s: kind not supported by this example", u.GetKind(), u.GetName())
		}
		a := Applied{Kind: u.GetKind(), Name: u.GetName()}
		_, err = dyn.Resource(gv.WithResource(resource)).Namespace(ns).Create(ctx, u, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			a.Existed, err = true, nil
		}
		if err != nil {
			return out, fmt.Errorf("create %s %s/%s: %w", u.GetKind(), ns, u.GetName(), err)
		}
		out = append(out, a)
	}
	for _, a := range out {
		if a.Kind == "Deployment" {
			if err := shared.WaitRolledOut(ctx, cs, ns, a.Name, 2*time.Minute); err != nil {
				return out, err
			}
		}
	}
	return out, nil
}

// ShortWithTestenv gives the duration flags named in short that are not on the
// command line their short value when f.Testenv is set: the guide's durations
// (15 minutes a phase, an hour of A/B test) are for real clusters, a run on
// the throwaway control plane is a demonstration. It says so on log.
func ShortWithTestenv(fs *flag.FlagSet, f *shared.Flags, short map[string]time.Duration, log io.Writer) error {
	if !f.Testenv {
		return nil
	}
	given := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { given[fl.Name] = true })
	names := slices.Sorted(maps.Keys(short))
	for _, name := range names {
		if given[name] {
			continue
		}
		if err := fs.Set(name, short[name].String()); err != nil {
			return err
		}
		fmt.Fprintf(log, "--testenv: --%s %s (pass --%s to change it)\n", name, short[name], name)
	}
	return nil
}
