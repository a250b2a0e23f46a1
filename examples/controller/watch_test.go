package main

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/agentops/progressive"
	v1alpha1 "github.com/agentops/progressive/examples/controller/api/v1alpha1"
	"github.com/agentops/progressive/internal/promtest"
	k8s "github.com/agentops/progressive/provider/kubernetes"
	"github.com/agentops/progressive/rollout"
)

// requestCounter counts the API requests of one operator (rest.Config.Wrap),
// by "VERB resource[/subresource]"; a watch counts once, when it opens.
type requestCounter struct {
	mu sync.Mutex
	by map[string]int
}

func (c *requestCounter) wrap(cfg *rest.Config) {
	c.by = map[string]int{}
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			c.mu.Lock()
			c.by[requestKind(r)]++
			c.mu.Unlock()
			return rt.RoundTrip(r)
		})
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// requestKind is "PATCH progressiverollouts/status", "WATCH configmaps", ...:
// the verb and what follows the namespace (or the group version) in the
// path, without names.
func requestKind(r *http.Request) string {
	verb := r.Method
	if r.URL.Query().Get("watch") == "true" {
		verb = "WATCH"
	}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	for i, p := range parts {
		if p == "namespaces" && i+2 < len(parts) {
			parts = parts[i+2:]
			break
		}
	}
	res := parts[len(parts)-1]
	switch {
	case len(parts) >= 3:
		res = parts[0] + "/" + parts[2]
	case len(parts) == 2:
		res = parts[0]
	}
	return verb + " " + res
}

func (c *requestCounter) snapshot() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.by))
	for k, v := range c.by {
		out[k] = v
	}
	return out
}

// since is what was counted after before, as "kind n" lines, and the total
// without the leader election's Lease renewals (a fixed rate, whatever the
// rollouts do).
func since(before, after map[string]int) (string, int) {
	var lines []string
	total := 0
	for k, v := range after {
		if d := v - before[k]; d > 0 {
			lines = append(lines, fmt.Sprintf("%s %d", k, d))
			if !strings.HasSuffix(k, " leases") {
				total += d
			}
		}
	}
	sort.Strings(lines)
	return strings.Join(lines, ", "), total
}

// reconcileCount is controller-runtime's count of the reconciles of
// controller name.
func reconcileCount(t *testing.T, name string) int {
	t.Helper()
	families, err := crmetrics.Registry.Gather()
	require.NoError(t, err)
	n := 0.0
	for _, f := range families {
		if f.GetName() != "controller_runtime_reconcile_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "controller" && l.GetValue() == name {
					n += m.GetCounter().GetValue()
				}
			}
		}
	}
	return int(n)
}

// During a soak the operator's reconciles cost no API request: the checks
// pass (measurements kept in memory, not stored), nothing a person reads
// changes (no status patch), and the object and the state are read from
// informers. Only the leader election's Lease renewals go on. The test
// counts every request of the operator through rest.Config.Wrap.
func TestRequestsPerTickDuringASoak(t *testing.T) {
	t.Parallel()
	e := requireStack(t)
	ns := e.NewNamespace(t)
	seedTarget(t, e, ns, promtest.Behavior{})
	const name = "progressive-rollouts-requests"
	var counter requestCounter
	op := startOperatorWith(t, e, ns, name, func(cfg *rest.Config, _ *Options) { counter.wrap(cfg) })
	waitElected(t, op, 30*time.Second)
	rows := watchRows(t, e, ns)
	cl := newClient(t, e)

	started := counter.snapshot()
	require.NoError(t, cl.Create(context.Background(), newRollout(ns, "checkout-v2", "checkout", "v2", 8*time.Second)))
	rows.waitFor(t, "checkout-v2", 60*time.Second, func(r row) bool { return r["Step"] == "3/7" && r["Weight"] == "25" })
	toSoak, _ := since(started, counter.snapshot())
	// The soak's first measurements are past; measure 4 s of its middle
	// (checks every 500ms: about 8 measurements of each check).
	time.Sleep(1500 * time.Millisecond)
	before, reconcilesBefore := counter.snapshot(), reconcileCount(t, name)
	time.Sleep(4 * time.Second)
	after, reconciles := counter.snapshot(), reconcileCount(t, name)-reconcilesBefore
	require.Equal(t, "3/7", rows.seen("checkout-v2")[len(rows.seen("checkout-v2"))-1]["Step"], "the window lies within the soak")
	during, total := since(before, after)
	t.Logf("to the soak at 25%%: %s", toSoak)
	t.Logf("4 s of the soak: %d reconciles, %d API requests besides Leases (%.2f per reconcile); all requests: %s", reconciles, total, float64(total)/float64(max(reconciles, 1)), during)
	assert.GreaterOrEqual(t, reconciles, 6, "a reconcile per measurement (every 500ms)")
	assert.Zero(t, after["PATCH progressiverollouts/status"]-before["PATCH progressiverollouts/status"], "no status write while nothing a person reads changes")
	assert.Zero(t, total, "a passing tick costs no API request: %s", during)

	final := rows.waitFor(t, "checkout-v2", 90*time.Second, ended)
	assert.Equal(t, "Succeeded", final["Phase"])
	all, _ := since(started, counter.snapshot())
	t.Logf("the whole rollout: %s", all)
}

// cliRunner is a second program's view of the operator's store (a CLI):
// its own provider and Runner on the state namespace, with no providers to
// drive anything, as `progressive abort` would have.
func cliRunner(t *testing.T, cfg *rest.Config, ns string) *rollout.Runner {
	t.Helper()
	p, err := k8s.New(cfg, k8s.Options{NoEvents: true})
	require.NoError(t, err)
	t.Cleanup(p.Close)
	store, err := p.Store(ns)
	require.NoError(t, err)
	r, err := rollout.New(rollout.Options{
		Providers: rollout.Providers{Routers: []progressive.TrafficRouter{p.Router()}, Workloads: []progressive.Workload{p.Workload()}},
		Store:     store,
	})
	require.NoError(t, err)
	return r
}

// An Abort stored by another program (a CLI's Runner.Abort on the state
// ConfigMap) takes effect at once: the operator watches the state
// ConfigMaps, so the rollout rolls back within about a second although its
// next measurement is 20 s away.
func TestAbortStoredByAnotherProgram(t *testing.T) {
	t.Parallel()
	e := requireStack(t)
	ns := e.NewNamespace(t)
	seedTarget(t, e, ns, promtest.Behavior{})
	op := startOperator(t, e, ns)
	waitElected(t, op, 30*time.Second)
	rows := watchRows(t, e, ns)
	cl := newClient(t, e)
	ctx := context.Background()

	pr := newRollout(ns, "checkout-v2", "checkout", "v2", 2*time.Minute)
	for i := range pr.Spec.Checks {
		pr.Spec.Checks[i].Interval = "20s"
	}
	require.NoError(t, cl.Create(ctx, pr))
	rows.waitFor(t, "checkout-v2", 60*time.Second, func(r row) bool { return r["Weight"] == "25" && r["Step"] == "3/7" })
	id := getRollout(t, cl, ns, "checkout-v2").Status.RolloutID
	require.NotEmpty(t, id)
	// The soak's first measurement is due 20 s after it began.
	time.Sleep(time.Second)

	cli := cliRunner(t, e.Config(), ns)
	stored := time.Now()
	require.NoError(t, cli.Abort(ctx, id, "stopped from the command line"))
	final := rows.waitFor(t, "checkout-v2", 15*time.Second, ended)
	took := time.Since(stored)
	t.Logf("Aborted %s after the CLI stored the command (the next measurement was ~19 s away); rows:\n%s", took.Round(time.Millisecond), formatRows(rows.seen("checkout-v2")))
	assert.Equal(t, "Aborted", final["Phase"])
	assert.Equal(t, "0", final["Weight"])
	assert.Less(t, took, 5*time.Second, "the watch, not the next requeue, carried the command out")
	// When the operator took the command up: its rollback decision.
	rec, err := op.Runner().Record(ctx, id)
	require.NoError(t, err)
	var picked time.Time
	for _, d := range rec.Decisions {
		if d.Action == "rollback" && strings.Contains(d.Reason, "stopped from the command line") {
			picked = d.Time
		}
	}
	require.False(t, picked.IsZero(), "a rollback decided on the command: %+v", rec.Decisions)
	t.Logf("the operator decided the rollback %s after the command was stored", picked.Sub(stored).Round(time.Millisecond))
	assert.Less(t, picked.Sub(stored), 2*time.Second, "taken up at once")
	got := getRollout(t, cl, ns, "checkout-v2")
	assert.Contains(t, got.Status.Message, "stopped from the command line")
	img, _ := deploymentImage(t, e, ns, "checkout")
	assert.Equal(t, image("checkout", "v1"), img)
}

// The retention is the operator's: with KeepPerTarget 1, the state of the
// first of two ended rollouts of one Deployment is deleted by the leader,
// the newest is kept, and the first ProgressiveRollout keeps its status and
// does not start again (the binding is a controller.Ender).
func TestRetentionPrunesEndedRollouts(t *testing.T) {
	t.Parallel()
	e := requireStack(t)
	ns := e.NewNamespace(t)
	seedTarget(t, e, ns, promtest.Behavior{})
	op := startOperatorWith(t, e, ns, "", func(_ *rest.Config, o *Options) {
		o.Retention = rollout.Retention{KeepPerTarget: 1}
		o.PruneEvery = 500 * time.Millisecond
	})
	waitElected(t, op, 30*time.Second)
	rows := watchRows(t, e, ns)
	cl := newClient(t, e)
	ctx := context.Background()

	abortOnce := func(name, version string) *v1alpha1.ProgressiveRollout {
		require.NoError(t, cl.Create(ctx, newRollout(ns, name, "checkout", version, time.Minute)))
		rows.waitFor(t, name, 60*time.Second, func(r row) bool { return r["Weight"] == "25" })
		pr := getRollout(t, cl, ns, name)
		patch := client.MergeFrom(pr.DeepCopy())
		pr.Annotations = map[string]string{v1alpha1.CommandAnnotation: "abort: next"}
		require.NoError(t, cl.Patch(ctx, pr, patch))
		rows.waitFor(t, name, 30*time.Second, func(r row) bool { return r["Phase"] == "Aborted" })
		return getRollout(t, cl, ns, name)
	}
	first := abortOnce("checkout-v2", "v2")
	// One ended rollout of the target: kept.
	time.Sleep(time.Second)
	_, err := op.Runner().Get(ctx, first.Status.RolloutID)
	require.NoError(t, err, "the newest ended rollout of a target is kept")

	second := abortOnce("checkout-v3", "v3")
	require.Eventually(t, func() bool {
		_, err := e.Clientset().CoreV1().ConfigMaps(ns).Get(ctx, k8s.ConfigMapName(first.Status.RolloutID), metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	}, 10*time.Second, 100*time.Millisecond, "the older state is pruned")
	_, err = e.Clientset().CoreV1().ConfigMaps(ns).Get(ctx, k8s.ConfigMapName(second.Status.RolloutID), metav1.GetOptions{})
	require.NoError(t, err, "the newer one is kept")

	// A reconcile of the first object (an edit of its annotations) finds no
	// state: it must not start the release again.
	pr := getRollout(t, cl, ns, "checkout-v2")
	patch := client.MergeFrom(pr.DeepCopy())
	pr.Annotations["touched"] = "yes"
	require.NoError(t, cl.Patch(ctx, pr, patch))
	time.Sleep(2 * time.Second)
	_, err = op.Runner().Get(ctx, first.Status.RolloutID)
	assert.ErrorIs(t, err, progressive.ErrNotFound, "not started again")
	again := getRollout(t, cl, ns, "checkout-v2")
	assert.Equal(t, "Aborted", again.Status.Phase)
	assert.Equal(t, first.Status.RolloutID, again.Status.RolloutID)
	img, replicas := deploymentImage(t, e, ns, "checkout-canary")
	assert.Zero(t, replicas, "no canary deployed again (%s)", img)
}
