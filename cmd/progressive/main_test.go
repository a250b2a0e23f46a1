package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/metrics"
	"github.com/agentops/progressive/provider/istio"
	k8s "github.com/agentops/progressive/provider/kubernetes"
	"github.com/agentops/progressive/rollout"
	"github.com/agentops/progressive/testkit/controlplane"
	"github.com/agentops/progressive/testkit/promtest"
)

var (
	env *controlplane.Env
	// bin holds the two programs, built once by TestMain the way a person
	// installs them.
	bin string
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "progressive-cli-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	bin = dir
	opts := controlplane.Options{}
	crds := controlplane.IstioCRDs()
	path, err := controlplane.ModuleFile(crds.Module, crds.Path...)
	if err != nil {
		fmt.Fprintf(os.Stderr, "progressive: the Istio CRDs: %v\n", err)
		if controlplane.Required() {
			return 1
		}
		return m.Run() // the tests that need the control plane skip
	}
	opts.CRDs = []string{path}
	return controlplane.RunMain(m, opts, &env)
}

// build builds both commands with go build, as go install would.
func build(t *testing.T) (progressiveBin, pluginBin string) {
	t.Helper()
	out := filepath.Join(bin, "bin")
	cmd := exec.Command("go", "build", "-o", out+string(filepath.Separator), "./cmd/progressive", "./cmd/kubectl-progressive")
	cmd.Dir = "../.."
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build: %s", b)
	return filepath.Join(out, "progressive"), filepath.Join(out, "kubectl-progressive")
}

type result struct {
	code           int
	stdout, stderr string
}

// exe runs a built binary and returns its exit code and output.
func exe(t *testing.T, binary string, extraEnv []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), extraEnv...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	t.Logf("$ %s %s  (exit %d)\n%s%s", filepath.Base(binary), strings.Join(args, " "), code, out.String(), errb.String())
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

func TestBothProgramsBuildAndShareTheCommands(t *testing.T) {
	prog, plugin := build(t)
	home := []string{"HOME=" + t.TempDir(), "XDG_CONFIG_HOME=", "XDG_STATE_HOME="}
	r := exe(t, plugin, home, "--help")
	assert.Equal(t, 0, r.code)
	assert.Contains(t, r.stdout, "kubectl progressive <command>")
	r = exe(t, prog, home, "validate", "../../internal/cli/testdata/invalid.yaml")
	assert.Equal(t, 2, r.code, "invalid input")
	assert.Contains(t, r.stdout, "spec.checks[0].maximum")
	r = exe(t, plugin, home, "run", "--sim", "--sim-fault", "errors", "--sim-fault-at", "50", "--state-dir", t.TempDir(), "../../examples/documents/payment-service-canary.yaml")
	assert.Equal(t, 3, r.code, "rolled back")
	assert.Contains(t, r.stdout, "ROLLBACK")
}

// seed creates the target as a person would have it before a mesh rollout:
// a Deployment of replicas pods and a Service selecting them.
func seed(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns, name string, replicas int32) {
	t.Helper()
	labels := map[string]string{"app": name}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				// The stable pods say which version they run, as the series
				// the test app exports for them do (promtest.StableVersion):
				// the stable side's queries ask for that version.
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name, k8s.VersionLabel: promtest.StableVersion}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "app", Image: "registry.example/" + name + ":v1",
					Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
				}}},
			},
		},
	}
	_, err := cs.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{})
	require.NoError(t, err)
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: corev1.ServiceSpec{Selector: maps.Clone(labels),
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}}},
	}
	_, err = cs.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		d, err := cs.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		return err == nil && d.Status.ReadyReplicas == replicas
	}, 2*time.Minute, 100*time.Millisecond)
}

// followWeights keeps the application's canary share equal to what the
// router says (the VirtualService, the Service's selector), read back as the
// data plane would route it.
func followWeights(ctx context.Context, r progressive.TrafficRouter, target progressive.Target) func() float64 {
	var bits atomic.Uint64
	go func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			if routes, err := r.GetRoutes(ctx, target); err == nil {
				bits.Store(math.Float64bits(routes.CanaryWeight))
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return func() float64 { return math.Float64frombits(bits.Load()) }
}

// document is a canary of target to version as the CLI reads it, with the
// application's error rate and p95 latency measured by Prometheus.
func document(t *testing.T, dir string, target progressive.Target, version string) string {
	app := metrics.App{Window: "2s"}
	check := func(c progressive.Check) map[string]any {
		m := map[string]any{"name": c.Name, "query": c.Query, "interval": "500ms"}
		if c.Max != nil {
			m["max"] = *c.Max
		}
		if c.Min != nil {
			m["min"] = *c.Min
		}
		return m
	}
	doc := map[string]any{
		"apiVersion": "progressive.agentops.dev/v1alpha1",
		"kind":       "Rollout",
		"metadata":   map[string]any{"name": target.Name + "-" + version},
		"spec": map[string]any{
			"target":   map[string]any{"namespace": target.Namespace, "name": target.Name},
			"release":  map[string]any{"version": version, "image": "registry.example/" + target.Name + ":" + version},
			"strategy": map[string]any{"canary": map[string]any{"weights": []float64{20, 50, 100}, "soak": "3s", "replicas": 2}},
			"checks":   []any{check(app.ErrorRate(1)), check(app.LatencyP95(500))},
		},
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	require.NoError(t, err)
	path := filepath.Join(dir, version+".json")
	require.NoError(t, os.WriteFile(path, b, 0o644))
	return path
}

// TestAgainstTheControlPlaneWithIstioAndPrometheus runs the built binary
// against a real control plane with the Istio CRDs and a real Prometheus:
// a healthy release is promoted (exit 0), a release answering 20% errors is
// rolled back (exit 3), and status, history, record and stats read both
// back from the ConfigMap store.
func TestAgainstTheControlPlaneWithIstioAndPrometheus(t *testing.T) {
	e := env.Require(t)
	prog, _ := build(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ns := e.NewNamespace(t)
	target := progressive.Target{Namespace: ns, Name: "checkout"}
	seed(ctx, t, e.Clientset(), ns, target.Name, 3)

	reads, err := istio.New(e.Config(), istio.Options{})
	require.NoError(t, err)
	app := promtest.NewApp()
	defer app.Close()
	svc := app.Service(promtest.ServiceSpec{Namespace: ns, Name: target.Name, CanaryVersion: "v2", CanaryShare: followWeights(ctx, reads, target)})
	prom := promtest.Start(t, promtest.Options{Targets: []string{app.Addr()}, ScrapeInterval: 500 * time.Millisecond})
	// The dry run asks rate(...[2s]) of the stable side: wait until that has
	// two scrapes to work with, as a live service's series would.
	require.NoError(t, prom.WaitFor(ctx, `sum(rate(http_requests_total{service="checkout",version="stable"}[2s])) > 0`, 30*time.Second))

	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(fmt.Sprintf(`apiVersion: progressive.agentops.dev/v1alpha1
kind: Config
kubernetes:
  kubeconfig: %s
router:
  kind: istio
  createRoutes: true
prometheus:
  address: %s
  timeout: 5s
store:
  kind: configmap
  namespace: %s
`, e.Kubeconfig(), prom.URL, ns)), 0o600))
	home := []string{"HOME=" + dir, "XDG_CONFIG_HOME=", "XDG_STATE_HOME=", "KUBECONFIG="}

	r := exe(t, prog, home, "dry-run", "--config", cfg, document(t, dir, target, "v2"))
	assert.Equal(t, 0, r.code)
	assert.Contains(t, r.stdout, "dry run: OK")

	r = exe(t, prog, home, "run", "--config", cfg, document(t, dir, target, "v2"))
	require.Equal(t, 0, r.code, "promoted")
	assert.Contains(t, r.stdout, "canary  20.0%")
	assert.Contains(t, r.stdout, "checkout-v2 promoted")
	routes, err := reads.GetRoutes(ctx, target)
	require.NoError(t, err)
	assert.Equal(t, 0.0, routes.CanaryWeight, "all traffic back on stable, which runs v2")
	d, err := e.Clientset().AppsV1().Deployments(ns).Get(ctx, target.Name, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "registry.example/checkout:v2", d.Spec.Template.Spec.Containers[0].Image)

	// v3 answers 20% errors from the start: the first analysis rolls it back.
	svc.SetCanaryRelease("v3", promtest.Behavior{ErrorPercent: 20})
	r = exe(t, prog, home, "run", "--config", cfg, document(t, dir, target, "v3"))
	require.Equal(t, 3, r.code, "rolled back")
	assert.Contains(t, r.stdout, `check "error-rate" failed`)
	routes, err = reads.GetRoutes(ctx, target)
	require.NoError(t, err)
	assert.Equal(t, 0.0, routes.CanaryWeight)
	d, err = e.Clientset().AppsV1().Deployments(ns).Get(ctx, target.Name, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "registry.example/checkout:v2", d.Spec.Template.Spec.Containers[0].Image, "stable untouched")

	// Read back from the ConfigMaps.
	r = exe(t, prog, home, "status", "--config", cfg, "-o", "json")
	require.Equal(t, 0, r.code)
	var rows []struct {
		ID    string        `json:"id"`
		Phase rollout.Phase `json:"phase"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &rows))
	phases := map[string]rollout.Phase{}
	for _, row := range rows {
		phases[row.ID] = row.Phase
	}
	assert.Equal(t, map[string]rollout.Phase{"checkout-v2": rollout.PhaseSucceeded, "checkout-v3": rollout.PhaseRolledBack}, phases)
	r = exe(t, prog, home, "status", "--config", cfg)
	require.Equal(t, 0, r.code)
	assert.Contains(t, r.stdout, "error-rate=")

	r = exe(t, prog, home, "record", "--config", cfg, "-o", "json", "checkout-v3")
	require.Equal(t, 0, r.code)
	var rec rollout.DecisionRecord
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &rec))
	assert.Equal(t, rollout.OutcomeRolledBack, rec.Impact.Outcome)
	assert.Equal(t, 20.0, rec.Impact.MaxCanaryWeight)
	assert.NotEmpty(t, rec.Observations)

	r = exe(t, prog, home, "record", "--config", cfg, "checkout-v2")
	require.Equal(t, 0, r.code)
	assert.Contains(t, r.stdout, "Impact:    promoted")

	r = exe(t, prog, home, "history", "--config", cfg)
	require.Equal(t, 0, r.code)
	assert.Contains(t, r.stdout, "checkout-v3")

	r = exe(t, prog, home, "stats", "--config", cfg, "-o", "json")
	require.Equal(t, 0, r.code)
	var sums []rollout.Summary
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &sums))
	require.NotEmpty(t, sums)
	assert.Equal(t, 2, sums[len(sums)-1].Rollouts)
	assert.InDelta(t, 0.5, sums[len(sums)-1].RollbackRate, 1e-9)
}
