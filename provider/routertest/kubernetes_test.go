package routertest_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/internal/testenv"
	k8s "github.com/agentops/progressive/provider/kubernetes"
	"github.com/agentops/progressive/provider/routertest"
)

// TestKubernetesRouter runs the conformance suite against the mesh-less router
// of provider/kubernetes, on a control plane of its own (so the other tests of
// this package need none). Each behaviour gets a namespace with 9 stable pods
// and 9 ready canary pods; weights are pod ratios, so 20% asked is 2 canary pods
// beside 9, 18.18%, and 30% is 4 beside 9, 30.77%: the tolerance is two
// percentage points, the granularity of one pod. Matches and mirroring are
// progressive.ErrUnsupported.
func TestKubernetesRouter(t *testing.T) {
	e := testenv.StartForTest(t, testenv.Options{})
	opts := k8s.Options{PollInterval: 25 * time.Millisecond, SettleTimeout: 30 * time.Second, ReadyTimeout: 60 * time.Second, BatchTimeout: 30 * time.Second}
	routertest.Run(t, func(t *testing.T) routertest.Setup {
		ns := e.NewNamespace(t)
		tg := progressive.Target{Namespace: ns, Name: "checkout"}
		seedService(t, e, ns, tg.Name, 9)
		p, err := k8s.New(e.Config(), opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Close)
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		w := p.Workload()
		if err := w.DeployCanary(ctx, tg, progressive.Release{Version: "v2", Image: "registry.example/checkout:v2"}, 9); err != nil {
			t.Fatal(err)
		}
		waitFor(t, ctx, func() error {
			st, err := w.Status(ctx, tg)
			if err != nil {
				return err
			}
			if st.Canary.Ready != 9 || st.Stable.Ready != 9 {
				return fmt.Errorf("status %+v", st)
			}
			return nil
		})
		return routertest.Setup{Router: p.Router(), Target: tg, Tolerance: 2, Timeout: 3 * time.Minute, Settle: 30 * time.Second}
	})
}

func seedService(t *testing.T, e *testenv.Env, ns, name string, replicas int32) {
	t.Helper()
	ctx := context.Background()
	labels := map[string]string{"app": name}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example/" + name + ":v1"}}},
			},
		},
	}
	if _, err := e.Clientset().AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: corev1.ServiceSpec{
			Selector: labels,
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}},
		},
	}
	if _, err := e.Clientset().CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func waitFor(t *testing.T, ctx context.Context, f func() error) {
	t.Helper()
	for {
		err := f()
		if err == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("gave up: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
