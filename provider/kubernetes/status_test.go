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
