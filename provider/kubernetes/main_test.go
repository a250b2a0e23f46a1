package kubernetes_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/internal/testenv"
	k8s "github.com/agentops/progressive/provider/kubernetes"
)

// env is the control plane shared by the tests of this package: one per test
// binary, a namespace per test.
var env *testenv.Env

func TestMain(m *testing.M) {
	if runHelperProcess() {
		return
	}
	os.Exit(testenv.RunMain(m, testenv.Options{ExtraStages: []string{failJobStage}}, &env))
}

// failJobStage makes pods labelled CustomStageLabel=fail fail (exit code 1),
// which is how a test gives a Job a failing migration.
const failJobStage = `apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: test-pod-fail
spec:
  resourceRef:
    apiGroup: v1
    kind: Pod
  selector:
    matchExpressions:
    - key: '.metadata.labels["` + testenv.CustomStageLabel + `"]'
      operator: 'In'
      values: ['fail']
    - key: '.metadata.deletionTimestamp'
      operator: 'DoesNotExist'
    - key: '.status.phase'
      operator: 'In'
      values: ['Pending']
  next:
    statusTemplate: |
      {{ $now := Now }}
      containerStatuses:
      {{ range .spec.containers }}
      - image: {{ .image | Quote }}
        name: {{ .name | Quote }}
        ready: false
        restartCount: 0
        started: false
        state:
          terminated:
            exitCode: 1
            finishedAt: {{ $now | Quote }}
            reason: Error
            message: "migration 0042 failed: column already exists"
            startedAt: {{ $now | Quote }}
      {{ end }}
      phase: Failed
`

// fastOptions keep the provider's waits short for tests.
func fastOptions() k8s.Options {
	return k8s.Options{PollInterval: 25 * time.Millisecond, SettleTimeout: 20 * time.Second, ReadyTimeout: 60 * time.Second, BatchTimeout: 30 * time.Second}
}

func newProvider(t *testing.T, cfg *rest.Config, opts k8s.Options) *k8s.Provider {
	t.Helper()
	p, err := k8s.New(cfg, opts)
	require.NoError(t, err)
	t.Cleanup(p.Close)
	return p
}

// seed creates a Deployment and a Service named name, selecting app=name, and
// waits until the Deployment rolled out.
func seed(t *testing.T, cs kubernetes.Interface, ns, name string, replicas int32, image string) *appsv1.Deployment {
	t.Helper()
	ctx := context.Background()
	pd := int32(600)
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"app": name}},
		Spec: appsv1.DeploymentSpec{
			Replicas:                &replicas,
			ProgressDeadlineSeconds: &pd,
			Selector:                &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
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
	return waitRolledOut(t, cs, ns, name)
}

func waitRolledOut(t *testing.T, cs kubernetes.Interface, ns, name string) *appsv1.Deployment {
	t.Helper()
	var d *appsv1.Deployment
	eventually(t, 60*time.Second, func() error {
		var err error
		d, err = cs.AppsV1().Deployments(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		st := d.Status
		if st.ObservedGeneration < d.Generation || st.UpdatedReplicas != *d.Spec.Replicas || st.Replicas != st.UpdatedReplicas || st.AvailableReplicas != st.UpdatedReplicas {
			return errorf("deployment %s not rolled out: %+v", name, st)
		}
		return nil
	})
	return d
}

type strErr string

func (e strErr) Error() string { return string(e) }

func errorf(format string, args ...any) error { return strErr(sprintf(format, args...)) }

// eventually polls f until it returns nil or the timeout passes.
func eventually(t *testing.T, timeout time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("gave up after %s: %v", timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

const testTimeout = 60 * time.Second

func target(ns, name string) progressive.Target { return progressive.Target{Namespace: ns, Name: name} }
