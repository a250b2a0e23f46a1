package workloadtest_test

import (
	"context"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/agentops/progressive"
	k8s "github.com/agentops/progressive/provider/kubernetes"
	"github.com/agentops/progressive/testkit/controlplane"
	"github.com/agentops/progressive/testkit/workloadtest"
)

// TestKubernetesWorkload runs the suite against provider/kubernetes' Workload
// (Deployments, and a Roller through ReplicaSet revisions) on a real control
// plane of its own from testkit/controlplane: skipped when it cannot start
// outside CI, failed under CI=true. Each behaviour gets a namespace with a
// stable Deployment of 4 pods behind a Service; kwok makes pods ready, except
// those whose image contains "never-ready".
func TestKubernetesWorkload(t *testing.T) {
	e := controlplane.StartForTest(t, controlplane.Options{})
	p, err := k8s.New(e.Config(), k8s.Options{PollInterval: 25 * time.Millisecond, SettleTimeout: 30 * time.Second, ReadyTimeout: 60 * time.Second, BatchTimeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	workloadtest.Run(t, func(t *testing.T) workloadtest.Setup {
		ns := e.NewNamespace(t)
		tg := progressive.Target{Namespace: ns, Name: "checkout"}
		seedService(t, e, tg, 4)
		return workloadtest.Setup{
			Workload:   p.Workload(),
			Target:     tg,
			Release:    progressive.Release{Version: "v2", Image: "registry.example/checkout:v2"},
			NeverReady: &progressive.Release{Version: "v3", Image: "registry.example/checkout:v3-" + controlplane.NeverReadyImageMarker},
			Settle:     time.Minute,
			Observe:    3 * time.Second,
		}
	})
}

func seedService(t *testing.T, e *controlplane.Env, tg progressive.Target, replicas int32) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
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
}
