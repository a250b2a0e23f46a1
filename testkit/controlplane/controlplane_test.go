package controlplane_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/agentops/progressive/testkit/controlplane"
)

// env is the control plane shared by the tests of this package.
var env *controlplane.Env

func TestMain(m *testing.M) {
	os.Exit(controlplane.RunMain(m, controlplane.Options{ExtraStages: []string{slowReadyStage}}, &env))
}

// slowReadyStage makes pods labelled CustomStageLabel=slow Ready two
// seconds after they are scheduled.
const slowReadyStage = `apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: test-slow-ready
spec:
  resourceRef:
    apiGroup: v1
    kind: Pod
  selector:
    matchExpressions:
    - key: '.metadata.labels["` + controlplane.CustomStageLabel + `"]'
      operator: 'In'
      values: ['slow']
    - key: '.metadata.deletionTimestamp'
      operator: 'DoesNotExist'
    - key: '.status.phase'
      operator: 'In'
      values: ['Pending']
  delay:
    durationMilliseconds: 2000
  next:
    statusTemplate: |
      {{ $now := Now }}
      conditions:
      - lastTransitionTime: {{ $now | Quote }}
        status: "True"
        type: Ready
      - lastTransitionTime: {{ $now | Quote }}
        status: "True"
        type: ContainersReady
      containerStatuses:
      {{ range .spec.containers }}
      - image: {{ .image | Quote }}
        name: {{ .name | Quote }}
        ready: true
        restartCount: 0
        state:
          running:
            startedAt: {{ $now | Quote }}
      {{ end }}
      phase: Running
      startTime: {{ $now | Quote }}
`

// eventually polls f until it returns nil, failing the test with f's last
// error after timeout.
func eventually(t *testing.T, timeout time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not done after %s: %v", what, timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func deployment(name string, replicas int32, image string) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	maxUnavailable := intstr.FromInt32(0)
	maxSurge := intstr.FromInt32(1)
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Strategy: appsv1.DeploymentStrategy{
				Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{
					MaxUnavailable: &maxUnavailable,
					MaxSurge:       &maxSurge,
				},
			},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					Containers: []corev1.Container{{Name: "app", Image: image}},
				},
			},
		},
	}
}

// rolledOut returns nil once the Deployment's latest generation is fully
// rolled out and Available.
func rolledOut(ctx context.Context, cs kubernetes.Interface, ns, name string) error {
	d, err := cs.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	want := *d.Spec.Replicas
	s := d.Status
	if s.ObservedGeneration < d.Generation || s.UpdatedReplicas != want || s.AvailableReplicas != want || s.Replicas != want {
		return fmt.Errorf("generation %d observed %d, replicas %d updated %d available %d (want %d)",
			d.Generation, s.ObservedGeneration, s.Replicas, s.UpdatedReplicas, s.AvailableReplicas, want)
	}
	for _, c := range s.Conditions {
		if c.Type == appsv1.DeploymentAvailable && c.Status == corev1.ConditionTrue {
			return nil
		}
	}
	return fmt.Errorf("no Available=True condition: %+v", s.Conditions)
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func TestControlPlaneVersionAndKubeconfig(t *testing.T) {
	e := env.Require(t)
	ctx := t.Context()

	// The kubeconfig file works on its own.
	cfg, err := clientcmd.BuildConfigFromFlags("", e.Kubeconfig())
	require.NoError(t, err)
	cs, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	v, err := cs.Discovery().ServerVersion()
	require.NoError(t, err)
	assert.Equal(t, controlplane.KubernetesVersion, v.GitVersion, "the -X ldflags set the version")

	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	assert.Len(t, nodes.Items, controlplane.DefaultNodes)
	for _, n := range nodes.Items {
		assert.Equal(t, controlplane.FakeNodeAnnotationValue, n.Annotations[controlplane.FakeNodeAnnotationKey])
		assert.False(t, n.Status.Capacity.Cpu().IsZero(), "node %s has CPU capacity", n.Name)
	}
	assert.Equal(t, e.APIServerURL(), cfg.Host)
	assert.True(t, strings.HasPrefix(cfg.Host, "https://127.0.0.1:"), cfg.Host)
	assert.Contains(t, e.LogTails(5), "kube-apiserver")
}

func TestRBACIsEnforced(t *testing.T) {
	e := env.Require(t)
	ctx := t.Context()
	ns := e.NewNamespace(t)

	// A service account without a RoleBinding may not list pods.
	cfg := e.Config()
	cfg.Impersonate.UserName = "system:serviceaccount:" + ns + ":nobody"
	cs, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	_, err = cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	require.Error(t, err)
	assert.True(t, apierrors.IsForbidden(err), "want Forbidden, got %v", err)
}

func TestDeploymentAvailableAndRollingUpdate(t *testing.T) {
	e := env.Require(t)
	ctx := t.Context()
	cs := e.Clientset()
	ns := e.NewNamespace(t)

	start := time.Now()
	_, err := cs.AppsV1().Deployments(ns).Create(ctx, deployment("web", 3, "registry.example/web:v1"), metav1.CreateOptions{})
	require.NoError(t, err)
	eventually(t, 60*time.Second, "deployment v1 available", func() error { return rolledOut(ctx, cs, ns, "web") })
	t.Logf("3 replicas Available after %s", time.Since(start).Round(time.Millisecond))

	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
	require.NoError(t, err)
	require.Len(t, pods.Items, 3)
	for _, p := range pods.Items {
		assert.NotEmpty(t, p.Spec.NodeName, "scheduled by kube-scheduler")
		assert.Equal(t, corev1.PodRunning, p.Status.Phase)
		assert.True(t, podReady(&p), "pod %s Ready", p.Name)
	}

	// Rolling update to v2.
	start = time.Now()
	d, err := cs.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
	require.NoError(t, err)
	d.Spec.Template.Spec.Containers[0].Image = "registry.example/web:v2"
	_, err = cs.AppsV1().Deployments(ns).Update(ctx, d, metav1.UpdateOptions{})
	require.NoError(t, err)
	eventually(t, 60*time.Second, "deployment v2 rolled out", func() error { return rolledOut(ctx, cs, ns, "web") })
	t.Logf("rolling update done after %s", time.Since(start).Round(time.Millisecond))

	rss, err := cs.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
	require.NoError(t, err)
	revisions := map[string]string{} // revision -> image
	for _, rs := range rss.Items {
		rev := rs.Annotations["deployment.kubernetes.io/revision"]
		revisions[rev] = rs.Spec.Template.Spec.Containers[0].Image
		if rev == "2" {
			assert.Equal(t, int32(3), *rs.Spec.Replicas)
		} else {
			assert.Equal(t, int32(0), *rs.Spec.Replicas, "old ReplicaSet %s scaled down", rs.Name)
		}
	}
	assert.Equal(t, map[string]string{"1": "registry.example/web:v1", "2": "registry.example/web:v2"}, revisions)
}

func TestNeverReadyPods(t *testing.T) {
	e := env.Require(t)
	ctx := t.Context()
	cs := e.Clientset()
	ns := e.NewNamespace(t)

	pod := func(name, image string, labels map[string]string) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: image}}},
		}
	}
	for _, p := range []*corev1.Pod{
		pod("by-image", "registry.example/web:v3-"+controlplane.NeverReadyImageMarker, nil),
		pod("by-label", "registry.example/web:v3", map[string]string{controlplane.NeverReadyLabel: "true"}),
		pod("control", "registry.example/web:v3", nil),
	} {
		_, err := cs.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{})
		require.NoError(t, err)
	}
	eventually(t, 60*time.Second, "control pod Ready", func() error {
		p, err := cs.CoreV1().Pods(ns).Get(ctx, "control", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if !podReady(p) {
			return fmt.Errorf("phase %s, conditions %+v", p.Status.Phase, p.Status.Conditions)
		}
		return nil
	})
	for _, name := range []string{"by-image", "by-label"} {
		eventually(t, 60*time.Second, name+" Running", func() error {
			p, err := cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			if p.Status.Phase != corev1.PodRunning {
				return fmt.Errorf("phase %s", p.Status.Phase)
			}
			return nil
		})
	}
	// They stay not Ready.
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		for _, name := range []string{"by-image", "by-label"} {
			p, err := cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
			require.NoError(t, err)
			require.False(t, podReady(p), "pod %s must never be Ready: %+v", name, p.Status.Conditions)
			require.Equal(t, corev1.PodRunning, p.Status.Phase)
		}
		time.Sleep(300 * time.Millisecond)
	}

	// A Deployment rolling out a never-ready version gets stuck: with
	// maxUnavailable 0 the old pods stay and the new one never counts as
	// available.
	_, err := cs.AppsV1().Deployments(ns).Create(ctx, deployment("api", 2, "registry.example/api:v1"), metav1.CreateOptions{})
	require.NoError(t, err)
	eventually(t, 60*time.Second, "api v1 available", func() error { return rolledOut(ctx, cs, ns, "api") })
	d, err := cs.AppsV1().Deployments(ns).Get(ctx, "api", metav1.GetOptions{})
	require.NoError(t, err)
	d.Spec.Template.Spec.Containers[0].Image = "registry.example/api:v2-never-ready"
	_, err = cs.AppsV1().Deployments(ns).Update(ctx, d, metav1.UpdateOptions{})
	require.NoError(t, err)
	eventually(t, 60*time.Second, "api v2 pod Running but not Ready", func() error {
		pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=api"})
		if err != nil {
			return err
		}
		for _, p := range pods.Items {
			if strings.HasSuffix(p.Spec.Containers[0].Image, "never-ready") && p.Status.Phase == corev1.PodRunning && !podReady(&p) {
				return nil
			}
		}
		return fmt.Errorf("no running v2 pod among %d", len(pods.Items))
	})
	time.Sleep(2 * time.Second)
	d, err = cs.AppsV1().Deployments(ns).Get(ctx, "api", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, int32(2), d.Status.AvailableReplicas, "old pods still serve")
	assert.Equal(t, int32(1), d.Status.UpdatedReplicas, "rollout stuck at the first new pod")
	assert.Equal(t, int32(1), d.Status.UnavailableReplicas)
}

const widgetCRDs = `# two CRDs in one file
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.controlplane.progressive.example
spec:
  group: controlplane.progressive.example
  names:
    kind: Widget
    listKind: WidgetList
    plural: widgets
    singular: widget
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        required: [spec]
        properties:
          spec:
            type: object
            required: [size]
            properties:
              size:
                type: integer
                minimum: 1
                maximum: 10
              color:
                type: string
                enum: [red, blue]
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gadgets.controlplane.progressive.example
spec:
  group: controlplane.progressive.example
  names:
    kind: Gadget
    plural: gadgets
  scope: Cluster
  versions:
  - name: v1alpha1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
`

func TestInstallCRDsAndSchema(t *testing.T) {
	e := env.Require(t)
	ctx := t.Context()
	ns := e.NewNamespace(t)

	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "crds.yaml"), []byte(widgetCRDs), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "README.md"), []byte("ignored"), 0o644))
	start := time.Now()
	require.NoError(t, e.InstallCRDs(ctx, dir))
	t.Logf("CRDs established in %s", time.Since(start).Round(time.Millisecond))
	// Installing again updates in place.
	require.NoError(t, e.InstallCRDs(ctx, filepath.Join(dir, "crds.yaml")))

	widgets := e.Dynamic().Resource(schema.GroupVersionResource{Group: "controlplane.progressive.example", Version: "v1", Resource: "widgets"}).Namespace(ns)
	widget := func(name string, spec map[string]any) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "controlplane.progressive.example/v1",
			"kind":       "Widget",
			"metadata":   map[string]any{"name": name},
			"spec":       spec,
		}}
	}
	_, err := widgets.Create(ctx, widget("good", map[string]any{"size": int64(3), "color": "red"}), metav1.CreateOptions{})
	require.NoError(t, err)

	for name, spec := range map[string]map[string]any{
		"too-big":   {"size": int64(11)},
		"not-int":   {"size": "three"},
		"bad-color": {"size": int64(2), "color": "green"},
		"no-size":   {"color": "blue"},
	} {
		_, err := widgets.Create(ctx, widget(name, spec), metav1.CreateOptions{})
		require.Error(t, err, name)
		assert.True(t, apierrors.IsInvalid(err), "%s: want Invalid, got %v", name, err)
	}

	_, err = e.Dynamic().Resource(schema.GroupVersionResource{Group: "controlplane.progressive.example", Version: "v1alpha1", Resource: "gadgets"}).
		Create(ctx, &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "controlplane.progressive.example/v1alpha1", "kind": "Gadget",
			"metadata": map[string]any{"name": "g"}, "anything": "goes",
		}}, metav1.CreateOptions{})
	require.NoError(t, err)

	// Not a CRD: refused.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "cm.yaml"), []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n"), 0o644))
	err = e.InstallCRDs(ctx, filepath.Join(dir, "cm.yaml"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "want apiextensions.k8s.io CustomResourceDefinition")
}

func TestExtraStageForCustomPods(t *testing.T) {
	e := env.Require(t)
	ctx := t.Context()
	cs := e.Clientset()
	ns := e.NewNamespace(t)

	start := time.Now()
	_, err := cs.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "slow", Labels: map[string]string{controlplane.CustomStageLabel: "slow"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example/slow:v1"}}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	eventually(t, 30*time.Second, "slow pod Ready", func() error {
		p, err := cs.CoreV1().Pods(ns).Get(ctx, "slow", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if !podReady(p) {
			return fmt.Errorf("phase %s", p.Status.Phase)
		}
		return nil
	})
	took := time.Since(start)
	t.Logf("custom stage made the pod Ready after %s", took.Round(time.Millisecond))
	assert.GreaterOrEqual(t, took, 1900*time.Millisecond, "the built-in pod-ready stage left the pod alone")

	// Deleting it still works (kwok's pod-delete stage).
	require.NoError(t, cs.CoreV1().Pods(ns).Delete(ctx, "slow", metav1.DeleteOptions{}))
	eventually(t, 30*time.Second, "slow pod gone", func() error {
		_, err := cs.CoreV1().Pods(ns).Get(ctx, "slow", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("still there (%v)", err)
	})
}
