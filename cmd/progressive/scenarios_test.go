package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	ldclient "github.com/launchdarkly/go-server-sdk/v7"
	"github.com/launchdarkly/go-server-sdk/v7/ldcomponents"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/metrics"
	"github.com/agentops/progressive/provider/istio"
	k8s "github.com/agentops/progressive/provider/kubernetes"
	"github.com/agentops/progressive/provider/launchdarkly"
	"github.com/agentops/progressive/provider/launchdarkly/ldfake"
	"github.com/agentops/progressive/rollout"
	"github.com/agentops/progressive/testkit/controlplane"
	"github.com/agentops/progressive/testkit/promtest"
)

// The guide's four scenario documents (examples/documents), run unchanged
// by the built binary against the test control plane: --set places them in
// the test's namespace and shortens their soaks, and the configuration maps
// the names their checks measure (error_rate, latency_p95, ...) to PromQL
// over the test application's series, scraped by a real Prometheus.

const examples = "../../examples/documents/"

// world is what the scenarios share: the control plane, the built binary, one
// application booking every scenario's requests, the Prometheus scraping it,
// and a receiver for the documents' webhooks.
type world struct {
	e    *controlplane.Env
	prog string
	app  *promtest.App
	prom *promtest.Server
	hook *receiver
}

// receiver records the webhooks the documents send (Slack in production).
type receiver struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []rollout.HookRequest
}

func newReceiver() *receiver {
	r := &receiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var hr rollout.HookRequest
		if err := json.NewDecoder(req.Body).Decode(&hr); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		r.got = append(r.got, hr)
		r.mu.Unlock()
	}))
	return r
}

// received lists "hook rollout" of every webhook received.
func (r *receiver) received() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, h := range r.got {
		out = append(out, h.Hook+" "+h.Rollout)
	}
	return out
}

// environ is the binary's environment: a home of the test's and the
// documents' webhook URLs on the receiver.
func (w *world) environ(home string) []string {
	u := w.hook.srv.URL
	return []string{"HOME=" + home, "XDG_CONFIG_HOME=", "XDG_STATE_HOME=", "KUBECONFIG=",
		"SLACK_WEBHOOK_URL=" + u + "/webhook", "SLACK_DEPLOYMENTS_URL=" + u + "/deployments", "SLACK_ALERTS_URL=" + u + "/alerts"}
}

// config writes the configuration of one scenario: its namespace's store,
// the router, Prometheus, the named queries and extra sections.
func (w *world) config(t *testing.T, dir, ns, router string, extra map[string]any) string {
	t.Helper()
	app := metrics.App{Window: "2s"}
	rc := map[string]any{"kind": router}
	if router == "istio" {
		rc["createRoutes"] = true
	}
	cfg := map[string]any{
		"apiVersion": "progressive.agentops.dev/v1alpha1",
		"kind":       "Config",
		"kubernetes": map[string]any{"kubeconfig": w.e.Kubeconfig()},
		"router":     rc,
		"prometheus": map[string]any{"address": w.prom.URL, "timeout": "5s"},
		"store":      map[string]any{"kind": "configmap", "namespace": ns},
		// The documents' names, measured on the test application's series.
		"queries": map[string]any{
			"error_rate":   app.ErrorRate(1).Query,
			"success_rate": app.SuccessRate(99).Query,
			"latency_p95":  app.LatencyP95(500).Query,
			"cpu":          metrics.Kubernetes{Window: "2s"}.CPU(80).Query,
		},
	}
	maps.Copy(cfg, extra)
	b, err := json.MarshalIndent(cfg, "", "  ")
	require.NoError(t, err)
	path := filepath.Join(dir, "config.yaml")
	require.NoError(t, os.WriteFile(path, b, 0o600))
	return path
}

// waitStable waits until Prometheus has two scrapes of the stable side of a
// service, which a live service would have long had: the preflight asks it.
func (w *world) waitStable(ctx context.Context, t *testing.T, ns, name string) {
	t.Helper()
	q := fmt.Sprintf(`sum(rate(http_requests_total{namespace=%q,service=%q,version="stable"}[2s])) > 0`, ns, name)
	require.NoError(t, w.prom.WaitFor(ctx, q, 30*time.Second))
}

// sets turns path=value pairs into --set flags.
func sets(pairs ...string) []string {
	out := make([]string, 0, 2*len(pairs))
	for _, p := range pairs {
		out = append(out, "--set", p)
	}
	return out
}

func args(head []string, flags []string, doc string) []string {
	return append(append(append([]string(nil), head...), flags...), doc)
}

func TestGuideScenariosAgainstTheControlPlane(t *testing.T) {
	e := env.Require(t)
	prog, _ := build(t)
	w := &world{e: e, prog: prog, app: promtest.NewApp(), hook: newReceiver()}
	defer w.app.Close()
	defer w.hook.srv.Close()
	w.prom = promtest.Start(t, promtest.Options{Targets: []string{w.app.Addr()}, ScrapeInterval: 500 * time.Millisecond})

	t.Run("payment-service canary", w.canary)
	t.Run("content-api rolling", w.rolling)
	t.Run("order-management blue-green", w.blueGreen)
	t.Run("payment_gateway_v2 flag rollout", w.flag)
	t.Run("production checklist", w.checklist)
}

// canary: the payment-service canary through Istio's CRDs is promoted; a
// release answering 20% errors is rolled back and the on-rollback webhook
// is told.
func (w *world) canary(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ns := w.e.NewNamespace(t)
	target := progressive.Target{Namespace: ns, Name: "payment-service"}
	seed(ctx, t, w.e.Clientset(), ns, target.Name, 3)
	reads, err := istio.New(w.e.Config(), istio.Options{})
	require.NoError(t, err)
	svc := w.app.Service(promtest.ServiceSpec{Namespace: ns, Name: target.Name, CanaryVersion: "v2.0.1", CanaryShare: followWeights(ctx, reads, target)})
	w.waitStable(ctx, t, ns, target.Name)
	dir := t.TempDir()
	cfg := w.config(t, dir, ns, "istio", nil)
	environ := w.environ(dir)
	release := func(v string) []string {
		return sets("metadata.name=payment-service-"+v, "spec.target.namespace="+ns,
			"spec.release.version="+v, "spec.release.image=registry.example/payment-service:"+v,
			"spec.strategy.canary.soak=3s",
			"spec.checks[0].interval=500ms", "spec.checks[1].interval=500ms", "spec.checks[2].interval=500ms")
	}
	doc := examples + "payment-service-canary.yaml"

	r := exe(t, w.prog, environ, args([]string{"dry-run", "--config", cfg}, release("v2.0.1"), doc)...)
	assert.Equal(t, 0, r.code)
	assert.Contains(t, r.stdout, "dry run: OK")

	r = exe(t, w.prog, environ, args([]string{"run", "--config", cfg}, release("v2.0.1"), doc)...)
	require.Equal(t, 0, r.code, "promoted")
	assert.Contains(t, r.stdout, "canary  10.0%")
	assert.Contains(t, r.stdout, "canary  50.0%")
	assert.Contains(t, r.stdout, "payment-service-v2.0.1 promoted")
	d, err := w.e.Clientset().AppsV1().Deployments(ns).Get(ctx, target.Name, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "registry.example/payment-service:v2.0.1", d.Spec.Template.Spec.Containers[0].Image)
	routes, err := reads.GetRoutes(ctx, target)
	require.NoError(t, err)
	assert.Equal(t, 0.0, routes.CanaryWeight, "all traffic on stable, which runs v2.0.1")

	// The next release answers 20% errors: the first analysis rolls it back.
	svc.SetCanaryRelease("v2.0.2", promtest.Behavior{ErrorPercent: 20})
	r = exe(t, w.prog, environ, args([]string{"run", "--config", cfg}, release("v2.0.2"), doc)...)
	require.Equal(t, 3, r.code, "rolled back")
	assert.Contains(t, r.stdout, `check "error-rate" failed`)
	d, err = w.e.Clientset().AppsV1().Deployments(ns).Get(ctx, target.Name, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "registry.example/payment-service:v2.0.1", d.Spec.Template.Spec.Containers[0].Image, "stable untouched")
	assert.Contains(t, w.hook.received(), "slack-rollback payment-service-v2.0.2", "the on-rollback webhook was sent")
	assert.NotContains(t, w.hook.received(), "slack-rollback payment-service-v2.0.1")

	r = exe(t, w.prog, environ, "record", "--config", cfg, "-o", "json", "payment-service-v2.0.2")
	require.Equal(t, 0, r.code)
	var rec rollout.DecisionRecord
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &rec))
	assert.Equal(t, rollout.OutcomeRolledBack, rec.Impact.Outcome)
	assert.Equal(t, 10.0, rec.Impact.MaxCanaryWeight)

	// Both releases' timelines, drawn from the ConfigMap store: the pictures
	// a post-incident review looks at. $PROGRESSIVE_TEST_ARTIFACTS keeps them.
	out := cmp.Or(os.Getenv("PROGRESSIVE_TEST_ARTIFACTS"), dir)
	for _, v := range []string{"v2.0.1", "v2.0.2"} {
		svg := filepath.Join(out, "payment-service-"+v+".svg")
		r = exe(t, w.prog, environ, "record", "--config", cfg, "--svg", svg, "payment-service-"+v)
		require.Equal(t, 0, r.code)
		b, err := os.ReadFile(svg)
		require.NoError(t, err)
		assert.Contains(t, string(b), "<svg")
		assert.Contains(t, string(b), "error-rate")
	}
}

// rolling: content-api's rolling update on the kubernetes workload alone
// (no router, no checks) replaces every pod kwok made; a pre-rollout hook,
// added with --set, runs as a Kubernetes Job that kwok completes.
func (w *world) rolling(t *testing.T) {
	ctx := context.Background()
	ns := w.e.NewNamespace(t)
	cs := w.e.Clientset()
	seed(ctx, t, cs, ns, "content-api", 4)
	dir := t.TempDir()
	cfg := w.config(t, dir, ns, "kubernetes", map[string]any{
		"hooks": map[string]any{"warm-cache": map[string]any{"job": map[string]any{
			"image": "registry.example/content-api-warmup:v1", "args": []string{"--all"}, "env": map[string]string{"TIER": "edge"}}}},
	})
	r := exe(t, w.prog, w.environ(dir), args([]string{"run", "--config", cfg}, sets(
		"spec.target.namespace="+ns, "spec.release.version=v4.2.1", "spec.release.image=registry.example/content-api:v4.2.1",
		"spec.strategy.rolling.replicas=4", "spec.strategy.rolling.batchSize=2", "spec.strategy.rolling.pace=1s",
		"spec.hooks[0]={name: warm-cache, phase: pre-rollout, timeout: 90s}",
	), examples+"content-api-rolling.yaml")...)
	require.Equal(t, 0, r.code, "promoted")
	assert.Contains(t, r.stdout, "content-api-v4-2-0 promoted")

	d, err := cs.AppsV1().Deployments(ns).Get(ctx, "content-api", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "registry.example/content-api:v4.2.1", d.Spec.Template.Spec.Containers[0].Image)
	require.Eventually(t, func() bool {
		pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=content-api"})
		if err != nil || len(pods.Items) != 4 {
			return false
		}
		for _, p := range pods.Items {
			if p.DeletionTimestamp != nil || p.Spec.Containers[0].Image != "registry.example/content-api:v4.2.1" || !podReady(p) {
				return false
			}
		}
		return true
	}, time.Minute, 200*time.Millisecond, "all four replicas run the new image")

	jobs, err := cs.BatchV1().Jobs(ns).List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	require.Len(t, jobs.Items, 1, "the pre-rollout hook ran as a Job")
	job := jobs.Items[0]
	assert.Equal(t, "warm-cache", job.Annotations["progressive.agentops.io/hook"])
	c := job.Spec.Template.Spec.Containers[0]
	assert.Equal(t, "registry.example/content-api-warmup:v1", c.Image)
	assert.Equal(t, []string{"--all"}, c.Args)
	assert.Contains(t, c.Env, corev1.EnvVar{Name: "TIER", Value: "edge"})
	assert.Contains(t, c.Env, corev1.EnvVar{Name: "PROGRESSIVE_RELEASE_VERSION", Value: "v4.2.1"})
	assert.True(t, jobCondition(job, batchv1.JobComplete), "kwok completed the Job's pod: %+v", job.Status.Conditions)
}

func podReady(p corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func jobCondition(j batchv1.Job, typ batchv1.JobConditionType) bool {
	for _, c := range j.Status.Conditions {
		if c.Type == typ && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

// background starts the binary and returns a function waiting for its end.
func background(t *testing.T, binary string, environ []string, a ...string) func() result {
	t.Helper()
	cmd := exec.Command(binary, a...)
	cmd.Env = append(os.Environ(), environ...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	require.NoError(t, cmd.Start())
	return func() result {
		err := cmd.Wait()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else {
			require.NoError(t, err)
		}
		t.Logf("$ %s %s  (exit %d, in the background)\n%s%s", filepath.Base(binary), strings.Join(a, " "), code, out.String(), errb.String())
		return result{code: code, stdout: out.String(), stderr: errb.String()}
	}
}

// blueGreen: order-management's migration and smoke tests run as command
// hooks, a second invocation approves the switch while run waits, all
// traffic moves to green in one write, and after the monitor blue is
// re-rolled with the release and green scaled away.
func (w *world) blueGreen(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ns := w.e.NewNamespace(t)
	cs := w.e.Clientset()
	target := progressive.Target{Namespace: ns, Name: "order-management"}
	seed(ctx, t, cs, ns, target.Name, 2)
	kp, err := k8s.New(w.e.Config(), k8s.Options{})
	require.NoError(t, err)
	defer kp.Close()
	w.app.Service(promtest.ServiceSpec{Namespace: ns, Name: target.Name, CanaryVersion: "v3.1.1", CanaryShare: followWeights(ctx, kp.Router(), target)})
	w.waitStable(ctx, t, ns, target.Name)

	dir := t.TempDir()
	mark := `echo "$PROGRESSIVE_HOOK $PROGRESSIVE_PHASE $PROGRESSIVE_TARGET $PROGRESSIVE_RELEASE_VERSION" >> hooks.log`
	cfg := w.config(t, dir, ns, "kubernetes", map[string]any{"hooks": map[string]any{
		"migrate-add-column": map[string]any{"command": []string{"sh", "-c", mark}, "timeout": "30s"},
		"smoke-tests":        map[string]any{"command": []string{"sh", "-c", mark + ` && test "$(cat | head -c 1)" = "{"`}},
	}})
	environ := w.environ(dir)
	id := "order-management-v3-1-1"
	wait := background(t, w.prog, environ, args([]string{"run", "--config", cfg}, sets(
		"metadata.name="+id, "spec.target.namespace="+ns,
		"spec.release.version=v3.1.1", "spec.release.image=registry.example/order-management:v3.1.1",
		"spec.strategy.blueGreen.replicas=2", "spec.strategy.blueGreen.approvalTimeout=3m",
		"spec.strategy.blueGreen.monitor=3s", "spec.strategy.blueGreen.decommissionDelay=1s",
		"spec.checks[0].interval=500ms", "spec.checks[1].interval=500ms",
	), examples+"order-management-blue-green.yaml")...)

	// The run waits at the release manager's gate; a person approves from
	// another terminal.
	var row struct {
		ID       string        `json:"id"`
		Phase    rollout.Phase `json:"phase"`
		StepKind string        `json:"stepKind"`
	}
	require.Eventually(t, func() bool {
		r := exe(t, w.prog, environ, "status", "--config", cfg, "-o", "json", id)
		var rows []json.RawMessage
		if r.code != 0 || json.Unmarshal([]byte(r.stdout), &rows) != nil || len(rows) != 1 {
			return false
		}
		return json.Unmarshal(rows[0], &row) == nil && row.StepKind == string(progressive.KindApproval)
	}, 2*time.Minute, time.Second, "the run reaches the approval")
	assert.Equal(t, "migrate-add-column step "+ns+"/order-management v3.1.1\nsmoke-tests step "+ns+"/order-management v3.1.1\n",
		readFile(t, filepath.Join(dir, "hooks.log")), "both hooks ran, in order, before the approval")
	green, err := cs.AppsV1().Deployments(ns).Get(ctx, k8s.CanaryName(target), metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, int32(2), *green.Spec.Replicas, "green at full size beside blue")
	svc, err := cs.CoreV1().Services(ns).Get(ctx, target.Name, metav1.GetOptions{})
	require.NoError(t, err)
	assert.NotEqual(t, "canary", svc.Spec.Selector[k8s.RoleLabel], "no user on green before the approval")

	r := exe(t, w.prog, environ, "promote", "--config", cfg, "--reason", "approved by the release manager", id)
	require.Equal(t, 0, r.code)

	// The switch: the Service selects green's pods only.
	require.Eventually(t, func() bool {
		svc, err := cs.CoreV1().Services(ns).Get(ctx, target.Name, metav1.GetOptions{})
		return err == nil && svc.Spec.Selector[k8s.RoleLabel] == "canary"
	}, time.Minute, 50*time.Millisecond, "all traffic switched to green")

	res := wait()
	require.Equal(t, 0, res.code, "promoted")
	assert.Contains(t, res.stdout, id+" promoted")
	blue, err := cs.AppsV1().Deployments(ns).Get(ctx, target.Name, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "registry.example/order-management:v3.1.1", blue.Spec.Template.Spec.Containers[0].Image, "blue re-rolled with the release")
	green, err = cs.AppsV1().Deployments(ns).Get(ctx, k8s.CanaryName(target), metav1.GetOptions{})
	if err == nil {
		assert.Equal(t, int32(0), *green.Spec.Replicas, "green scaled away")
	}
	svc, err = cs.CoreV1().Services(ns).Get(ctx, target.Name, metav1.GetOptions{})
	require.NoError(t, err)
	assert.NotEqual(t, "canary", svc.Spec.Selector[k8s.RoleLabel], "traffic back on blue, which runs the release")
	assert.Contains(t, w.hook.received(), "deployments-channel "+id, "the post-rollout webhook was sent")

	r = exe(t, w.prog, environ, "record", "--config", cfg, "-o", "json", id)
	require.Equal(t, 0, r.code)
	assert.Contains(t, r.stdout, "approved by the release manager")
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b)
}

// flagShare follows the share of users a flag serves the variation of value
// to, read through LaunchDarkly's SDK as the application's own SDK would.
// (This store never wrote the flag, so it knows variations by value, not by
// the names the REST API gives them.)
func flagShare(ctx context.Context, store *launchdarkly.Store, ref progressive.FlagRef, value any) func() float64 {
	var mu sync.Mutex
	share := 0.0
	go func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			if f, err := store.GetFlag(ctx, ref); err == nil {
				p := 0.0
				for _, wt := range f.Fallthrough.Weights {
					if v, ok := f.Variation(wt.Variation); ok && f.On && v.Value == value {
						p += wt.Weight
					}
				}
				mu.Lock()
				share = p
				mu.Unlock()
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return func() float64 {
		mu.Lock()
		defer mu.Unlock()
		return share
	}
}

// flag: payment_gateway_v2 rolled out through LaunchDarkly (ldfake behind a
// relay, written through its REST API by the binary's store and read back by
// the real SDK), the users on the new gateway measured by Prometheus.
func (w *world) flag(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ns := w.e.NewNamespace(t)
	const token, env = "api-token-1", "production"
	fake := ldfake.New(token, env)
	defer fake.Close()
	fake.AddFlag("payments", ldfake.FlagSpec{Key: "payment_gateway_v2", Variations: []ldfake.Variation{{Value: false, Name: "off"}, {Value: true, Name: "on"}}})
	fake.AddSegment(env, "beta-testers", "tess", "tom")
	relay := startRelay(t, fake, env)
	reads, err := launchdarkly.New(launchdarkly.Options{Project: "payments", BaseURL: fake.URL(), Environments: []launchdarkly.Environment{{
		Key: env, SDKKey: "sdk-test", Config: ldclient.Config{DataSource: fake.DataSource(env), Events: ldcomponents.NoEvents(), Logging: ldcomponents.NoLogging()}}}})
	require.NoError(t, err)
	defer reads.Close()
	ref := progressive.FlagRef{Project: "payments", Environment: env, Key: "payment_gateway_v2"}
	// The users served "on" are the new gateway's; 1% of 1000 requests a
	// second is enough for a measurement every half second.
	w.app.Service(promtest.ServiceSpec{Namespace: ns, Name: "payment-service", CanaryVersion: "gateway-v2", RPS: 1000, CanaryShare: flagShare(ctx, reads, ref, true)})
	w.waitStable(ctx, t, ns, "payment-service")

	dir := t.TempDir()
	cfg := w.config(t, dir, ns, "kubernetes", map[string]any{"flags": map[string]any{
		"kind": "launchdarkly", "project": "payments", "baseURL": fake.URL(), "relayURL": relay.URL(),
		"apiTokenFrom": map[string]string{"env": "LD_API_TOKEN"},
		"environments": []any{map[string]any{"name": env, "sdkKeyFrom": map[string]string{"env": "LD_SDK_KEY"}}},
	}})
	environ := append(w.environ(dir), "LD_API_TOKEN="+token, "LD_SDK_KEY=sdk-cli")
	r := exe(t, w.prog, environ, args([]string{"run", "--config", cfg}, sets(
		"spec.target.namespace="+ns, "spec.release.version=gateway-v2",
		"spec.strategy.flag.targetSoak=2s", "spec.strategy.flag.soak=3s",
		"spec.checks[0].interval=500ms", "spec.checks[1].interval=500ms",
	), examples+"payment-gateway-v2-flag.yaml")...)
	require.Equal(t, 0, r.code, "promoted")
	assert.Contains(t, r.stdout, `serves "on" to 1% of users`)
	assert.Contains(t, r.stdout, "payment-success-rate 100 >= 99")
	assert.Contains(t, r.stdout, "payment-gateway-v2 promoted")

	// The fake's own model: on, everyone on "on".
	raw, ok := fake.Flag("payments", "payment_gateway_v2")
	require.True(t, ok)
	var model struct {
		Variations []struct {
			ID   string `json:"_id"`
			Name string `json:"name"`
		} `json:"variations"`
		Environments map[string]struct {
			On          bool `json:"on"`
			Fallthrough struct {
				Variation *int `json:"variation"`
				Rollout   *struct {
					Variations []struct {
						Variation int `json:"variation"`
						Weight    int `json:"weight"`
					} `json:"variations"`
				} `json:"rollout"`
			} `json:"fallthrough"`
		} `json:"environments"`
	}
	require.NoError(t, json.Unmarshal(raw, &model), "%s", raw)
	prod := model.Environments[env]
	assert.True(t, prod.On, "%s", raw)
	onShare := 0
	switch ft := prod.Fallthrough; {
	case ft.Variation != nil:
		if *ft.Variation == 1 {
			onShare = 100000
		}
	case ft.Rollout != nil:
		for _, v := range ft.Rollout.Variations {
			if v.Variation == 1 {
				onShare += v.Weight
			}
		}
	}
	assert.Equal(t, 100000, onShare, "everyone is served \"on\": %s", raw)
	assert.Positive(t, fake.Writes())
	// And the SDK, which the application reads, serves it so.
	f, err := reads.GetFlag(ctx, ref)
	require.NoError(t, err)
	assert.True(t, f.On)
	served := map[any]float64{}
	for _, wt := range f.Fallthrough.Weights {
		v, _ := f.Variation(wt.Variation)
		served[v.Value] += wt.Weight
	}
	assert.Equal(t, 100.0, served[true], "%+v", f.Fallthrough)
}
