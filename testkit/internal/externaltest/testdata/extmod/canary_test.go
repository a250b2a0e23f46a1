// Package extmod_test uses the progressive test kit from outside its module:
// a real control plane and a real Prometheus run a canary of a Deployment to
// promotion and to rollback, and the virtual-time harness and a conformance
// suite run beside them.
package extmod_test

import (
	"context"
	"os"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/metrics"
	k8s "github.com/agentops/progressive/provider/kubernetes"
	"github.com/agentops/progressive/provider/prometheus"
	"github.com/agentops/progressive/provider/sim"
	"github.com/agentops/progressive/rollout"
	"github.com/agentops/progressive/strategy"
	"github.com/agentops/progressive/testkit/controlplane"
	"github.com/agentops/progressive/testkit/metrictest"
	"github.com/agentops/progressive/testkit/promtest"
	"github.com/agentops/progressive/testkit/rollouttest"
)

var env *controlplane.Env

func TestMain(m *testing.M) { os.Exit(controlplane.RunMain(m, controlplane.Options{}, &env)) }

// TestLiveCanary runs two canaries of a Deployment on the control plane,
// routed by provider/kubernetes (pod ratios) and judged by provider/prometheus
// on a real Prometheus scraping the kit's application: a healthy release is
// promoted, one answering 30% errors is rolled back and never promoted.
func TestLiveCanary(t *testing.T) {
	e := env.Require(t)
	app := promtest.NewApp()
	t.Cleanup(app.Close)
	prom := promtest.Start(t, promtest.Options{Targets: []string{app.Addr()}})

	for _, c := range []struct {
		name   string
		canary promtest.Behavior
		want   rollout.Phase
	}{
		{"healthy", promtest.Behavior{}, rollout.PhaseSucceeded},
		{"failing", promtest.Behavior{ErrorPercent: 30}, rollout.PhaseRolledBack},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
			defer cancel()
			ns := e.NewNamespace(t)
			target := progressive.Target{Namespace: ns, Name: "checkout"}
			seed(t, ctx, e, target, 8)
			p, err := k8s.New(e.Config(), k8s.Options{PollInterval: 50 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(p.Close)
			router := p.Router()
			app.Service(promtest.ServiceSpec{
				Namespace: ns, Name: target.Name, CanaryVersion: "v2", RPS: 200, Canary: c.canary,
				CanaryShare: func() float64 {
					r, err := router.GetRoutes(context.Background(), target)
					if err != nil {
						return 0
					}
					return r.CanaryWeight
				},
			})
			if err := prom.WaitFor(ctx, `http_requests_total{namespace="`+ns+`"}`, time.Minute); err != nil {
				t.Fatal(err)
			}
			src, err := prometheus.New(prometheus.Options{Address: prom.URL})
			if err != nil {
				t.Fatal(err)
			}
			check := metrics.App{Window: "10s"}.ErrorRate(metrics.SeedMaxErrorRate)
			// The canary's series exist once the router gives it traffic and rate()
			// needs two scrapes of them: wait 6s before the first measurement.
			check.Interval, check.InitialDelay = 2*time.Second, 6*time.Second
			runner, err := rollout.New(rollout.Options{
				Providers: rollout.Providers{
					Routers:   []progressive.TrafficRouter{router},
					Workloads: []progressive.Workload{p.Workload()},
					Metrics:   []progressive.MetricSource{src},
				},
				PollInterval: 200 * time.Millisecond,
				RetryBackoff: 500 * time.Millisecond,
			})
			if err != nil {
				t.Fatal(err)
			}
			plan, err := strategy.Canary{Weights: []float64{50}, Soak: 25 * time.Second, Replicas: 8, Checks: []progressive.Check{check}}.
				Plan(target, progressive.Release{Version: "v2", Image: "registry.example/checkout:v2"})
			if err != nil {
				t.Fatal(err)
			}
			st, err := runner.Start(ctx, plan)
			if err != nil {
				t.Fatal(err)
			}
			st, err = runner.Run(ctx, st.ID)
			if err != nil {
				t.Fatal(err)
			}
			if st.Phase != c.want {
				t.Fatalf("phase %s, want %s; decisions %+v", st.Phase, c.want, st.Record.Decisions)
			}
			if c.want == rollout.PhaseRolledBack && st.Applied.Promoted {
				t.Error("a failing canary was promoted")
			}
			dep, err := e.Clientset().AppsV1().Deployments(ns).Get(ctx, target.Name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			image := dep.Spec.Template.Spec.Containers[0].Image
			wantImage := "registry.example/checkout:v1"
			if c.want == rollout.PhaseSucceeded {
				wantImage = "registry.example/checkout:v2"
			}
			if image != wantImage {
				t.Errorf("stable Deployment runs %s, want %s", image, wantImage)
			}
		})
	}
}

// TestVirtualTime drives a canary on the simulator in virtual time with the
// harness and a scripted source.
func TestVirtualTime(t *testing.T) {
	h := rollouttest.New(t, rollouttest.Options{Profile: sim.Profile{RequestRate: 1000}})
	regression := h.Start.Add(15 * time.Minute)
	if err := h.Sim.Metrics.Inject(sim.Incident{Target: h.Target, Role: progressive.Canary, Kind: sim.ErrorRateSet, Value: 6, Start: regression}); err != nil {
		t.Fatal(err)
	}
	plan, err := strategy.Canary{Weights: []float64{10, 50, 100}, Soak: 10 * time.Minute, Replicas: 2, Checks: []progressive.Check{
		{Name: "error-rate", Query: sim.SeriesErrorRate, Max: progressive.Float(1), Interval: time.Minute},
	}}.Plan(h.Target, progressive.Release{Version: "v2", Image: "registry.example/checkout:v2"})
	if err != nil {
		t.Fatal(err)
	}
	out := h.Run(t, plan)
	rollouttest.RolledBackWithin(t, out, regression, 3, time.Minute)
	rollouttest.NeverPromoted(t, out)
	rollouttest.FinalRoutes(t, out, progressive.AllStable())
}

// TestScriptedSourceConformance runs the MetricSource suite from outside.
func TestScriptedSourceConformance(t *testing.T) {
	metrictest.Run(t, func(t *testing.T) metrictest.Setup {
		m := rollouttest.NewMetrics(nil)
		m.Set("v", "", rollouttest.Value(3)).Set("none", "", rollouttest.NoData()).Set("nan", "", rollouttest.NaN()).Set("bad", "", rollouttest.Invalid())
		return metrictest.Setup{Source: m, Value: progressive.Query{Expr: "v"}, Want: 3,
			NoData: progressive.Query{Expr: "none"}, NaN: progressive.Query{Expr: "nan"}, Invalid: progressive.Query{Expr: "bad"}}
	})
}

func seed(t *testing.T, ctx context.Context, e *controlplane.Env, tg progressive.Target, replicas int32) {
	t.Helper()
	labels := map[string]string{"app": tg.Name}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: tg.Name, Namespace: tg.Namespace, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example/" + tg.Name + ":v1"}}},
			},
		},
	}
	if _, err := e.Clientset().AppsV1().Deployments(tg.Namespace).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: tg.Name, Namespace: tg.Namespace},
		Spec: corev1.ServiceSpec{
			Selector: labels,
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}},
		},
	}
	if _, err := e.Clientset().CoreV1().Services(tg.Namespace).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for {
		got, err := e.Clientset().AppsV1().Deployments(tg.Namespace).Get(ctx, tg.Name, metav1.GetOptions{})
		if err == nil && got.Status.ReadyReplicas == replicas {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("Deployment %s never became ready: %v", tg, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
