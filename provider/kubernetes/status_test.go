package kubernetes_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/agentops/progressive"
	k8s "github.com/agentops/progressive/provider/kubernetes"
)

// seedRoleSelector is seed with the role label in the Deployment's selector
// (and its pods): the manifest style that avoids Adopt's relabelling restart.
func seedRoleSelector(t *testing.T, cs kubernetes.Interface, ns, name string, replicas int32, image string) {
	t.Helper()
	ctx := context.Background()
	pd := int32(600)
	lbl := map[string]string{"app": name, k8s.RoleLabel: "stable"}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"app": name}},
		Spec: appsv1.DeploymentSpec{
			Replicas:                &replicas,
			ProgressDeadlineSeconds: &pd,
			Selector:                &metav1.LabelSelector{MatchLabels: lbl},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: lbl},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: image}}},
			},
		},
	}
	_, err := cs.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{})
	require.NoError(t, err)
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": name},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}},
		},
	}
	_, err = cs.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{})
	require.NoError(t, err)
	waitRolledOut(t, cs, ns, name)
}

// TestStatusStableSelectorWithRole: a stable Deployment whose selector has
// RoleLabel=stable (which Adopt accepts) still lets Status find the canary's
// ReplicaSets, so the deploy step sees the canary ready instead of timing out.
func TestStatusStableSelectorWithRole(t *testing.T) {
	e := env.Require(t)
	ns := e.NewNamespace(t)
	cs := e.Clientset()
	seedRoleSelector(t, cs, ns, "billing", 2, "registry.example/billing:v1")
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	p := newProvider(t, e.Config(), fastOptions())
	w := p.Workload()
	tgt := target(ns, "billing")

	require.NoError(t, w.DeployCanary(ctx, tgt, progressive.Release{Version: "v2", Image: "registry.example/billing:v2"}, 2))
	var last progressive.WorkloadStatus
	eventually(t, 30*time.Second, func() error {
		s, err := w.Status(ctx, tgt)
		if err != nil {
			return err
		}
		last = s
		if s.Canary.Ready < 2 || s.Canary.Updated < 2 {
			return errorf("canary not ready: %+v", s)
		}
		return nil
	})
	require.Equal(t, "v2", last.Canary.Version)
	require.Equal(t, 2, last.Stable.Ready, "the stable side is still counted: %+v", last)
}

// statusReads is the requests one Status call made.
func statusReads(t *testing.T, p *k8s.Provider, tgt progressive.Target) (progressive.WorkloadStatus, k8s.Stats) {
	t.Helper()
	before := p.Stats()
	s, err := p.Workload().Status(context.Background(), tgt)
	require.NoError(t, err)
	after := p.Stats()
	return s, k8s.Stats{Reads: after.Reads - before.Reads, Writes: after.Writes - before.Writes}
}

// TestStatusFromInformers: without a watch Status makes 3 requests; while
// WatchStatus runs the namespace's informers it makes none in the steady state,
// and a Status right after DeployCanary or Promote still judges the new
// template (never the previous one the cache may hold).
func TestStatusFromInformers(t *testing.T) {
	e := env.Require(t)
	ns := e.NewNamespace(t)
	cs := e.Clientset()
	seed(t, cs, ns, "pay", 2, "registry.example/pay:v1")
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	p := newProvider(t, e.Config(), fastOptions())
	w := p.Workload()
	tgt := target(ns, "pay")

	require.NoError(t, w.DeployCanary(ctx, tgt, progressive.Release{Version: "v2", Image: "registry.example/pay:v2"}, 2))
	canaryReady := func(version string) func() error {
		return func() error {
			s, err := w.Status(ctx, tgt)
			if err != nil {
				return err
			}
			if s.Canary.Version != version || s.Canary.Ready < 2 {
				return errorf("canary not ready: %+v", s)
			}
			return nil
		}
	}
	eventually(t, 30*time.Second, canaryReady("v2"))
	_, direct := statusReads(t, p, tgt)
	require.Equal(t, k8s.Stats{Reads: 3}, direct, "without informers: two GETs and a ReplicaSet List")

	ch, err := w.WatchStatus(ctx, tgt)
	require.NoError(t, err)
	require.False(t, k8s.ReplicaSetInformerOff(p, ns), "the admin may watch ReplicaSets")
	for range 5 {
		s, cached := statusReads(t, p, tgt)
		require.Equal(t, k8s.Stats{}, cached, "steady state with informers: no request")
		require.Equal(t, 2, s.Canary.Ready)
		require.Equal(t, "v2", s.Canary.Version)
	}

	// A new canary template: every Status from the write on judges v3.
	drainChan(ch)
	require.NoError(t, w.DeployCanary(ctx, tgt, progressive.Release{Version: "v3", Image: "registry.example/pay:v3"}, 2))
	s, reads := statusReads(t, p, tgt)
	require.Equal(t, "v3", s.Canary.Version, "a Status right after DeployCanary: %+v (%+v)", s, reads)
	t.Logf("Status right after DeployCanary: %+v, %d read(s)", s, reads.Reads)
	deadline := time.Now().Add(30 * time.Second)
	for {
		s, err := w.Status(ctx, tgt)
		require.NoError(t, err)
		require.Equal(t, "v3", s.Canary.Version)
		if s.Canary.Ready >= 2 {
			break
		}
		require.True(t, time.Now().Before(deadline), "canary v3 not ready: %+v", s)
		select {
		case <-ch:
		case <-time.After(time.Second):
		}
	}
	_, cached := statusReads(t, p, tgt)
	require.Equal(t, k8s.Stats{}, cached, "steady state again")

	// Promote: the stable side is v3 at once, not ready until its pods are.
	require.NoError(t, w.Promote(ctx, tgt))
	s, _ = statusReads(t, p, tgt)
	require.Equal(t, "v3", s.Stable.Version, "a Status right after Promote: %+v", s)
	eventually(t, 30*time.Second, func() error {
		s, err := w.Status(ctx, tgt)
		if err != nil {
			return err
		}
		require.Equal(t, "v3", s.Stable.Version)
		if s.Stable.Ready < 2 || s.Stable.Updated < 2 {
			return errorf("stable not rolled: %+v", s)
		}
		return nil
	})
	eventually(t, 10*time.Second, func() error {
		if _, c := statusReads(t, p, tgt); c != (k8s.Stats{}) {
			return errorf("Status made %+v", c)
		}
		return nil
	})
}

// TestStatusUnderRoleWithoutReplicaSetWatch: under a Role that lists
// replicasets but may not watch them (role.yaml trimmed) the ReplicaSet informer
// turns itself off and Status lists the ReplicaSets directly: one request
// instead of three.
func TestStatusUnderRoleWithoutReplicaSetWatch(t *testing.T) {
	e := env.Require(t)
	ns := e.NewNamespace(t)
	cs := e.Clientset()
	seed(t, cs, ns, "ship", 2, "registry.example/ship:v1")
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	p := newProvider(t, serviceAccountConfigWith(t, e.Config(), cs, ns, withoutWatch("replicasets")), fastOptions())
	w := p.Workload()
	tgt := target(ns, "ship")
	require.NoError(t, w.DeployCanary(ctx, tgt, progressive.Release{Version: "v2", Image: "registry.example/ship:v2"}, 1))
	_, err := w.WatchStatus(ctx, tgt)
	require.NoError(t, err)
	eventually(t, 10*time.Second, func() error {
		if !k8s.ReplicaSetInformerOff(p, ns) {
			return errorf("the ReplicaSet informer still runs")
		}
		return nil
	})
	eventually(t, 30*time.Second, func() error {
		s, err := w.Status(ctx, tgt)
		if err != nil {
			return err
		}
		if s.Canary.Ready < 1 {
			return errorf("canary not ready: %+v", s)
		}
		return nil
	})
	// Once the cache has caught up with what the direct reads saw.
	eventually(t, 10*time.Second, func() error {
		if _, reads := statusReads(t, p, tgt); reads != (k8s.Stats{Reads: 1}) {
			return errorf("Status made %+v", reads)
		}
		return nil
	})
	for range 3 {
		_, reads := statusReads(t, p, tgt)
		require.Equal(t, k8s.Stats{Reads: 1}, reads, "Deployments from the cache, ReplicaSets listed")
	}
}
