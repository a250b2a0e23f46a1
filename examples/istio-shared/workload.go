package istioshared

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"

	"github.com/agentops/progressive"
)

// ReleaseAnnotation carries the release (version and image, JSON) on the pod
// templates Deployments writes: the same annotation provider/kubernetes uses.
const ReleaseAnnotation = "progressive.agentops.io/release"

// Deployments is a progressive.Workload on two Deployments that a service mesh
// routes between by DestinationRule subsets: the stable one and the canary
// (green) one, whose pods differ in one label (Label: StableValue on the one
// side, CanaryValue on the other). The Service in front of them selects both
// sides, and Deployments never touches it.
//
// That is the difference from provider/kubernetes' Workload, which narrows the
// Service to the stable pods (its router moves traffic by the Service's
// selector): under Istio a subset only picks among the Service's endpoints, so
// a Service that selects the stable pods alone leaves the canary subset
// without endpoints, and the requests the VirtualService sends there fail.
type Deployments struct {
	Client kubernetes.Interface
	// Stable and Canary name the two Deployments; default the target's name and
	// <name>-canary.
	Stable, Canary string
	// Label is the pod label the subsets select; StableValue and CanaryValue are
	// its values on the two sides.
	Label, StableValue, CanaryValue string
}

var _ progressive.Workload = (*Deployments)(nil)

// Name returns "deployments".
func (d *Deployments) Name() string { return "deployments" }

func (d *Deployments) names(t progressive.Target) (stable, canary string) {
	stable, canary = d.Stable, d.Canary
	if stable == "" {
		stable = t.Name
	}
	if canary == "" {
		canary = t.Name + "-canary"
	}
	return stable, canary
}

func (d *Deployments) get(ctx context.Context, ns, name string) (*appsv1.Deployment, error) {
	dep, err := d.Client.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("Deployment %s/%s: %w: %w", ns, name, err, progressive.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("Deployment %s/%s: %w: %w", ns, name, err, progressive.ErrTransient)
	}
	return dep, nil
}

// DeployCanary makes the canary Deployment the stable one's pod template with
// the release's image, Label=CanaryValue and the release annotation, at
// replicas pods: it creates it when missing (selector: the stable one's with
// Label=CanaryValue) and updates it otherwise (a green Deployment that exists
// already keeps its selector and its other fields).
func (d *Deployments) DeployCanary(ctx context.Context, t progressive.Target, release progressive.Release, replicas int) error {
	stableName, canaryName := d.names(t)
	stable, err := d.get(ctx, t.Namespace, stableName)
	if err != nil {
		return err
	}
	tpl := stable.Spec.Template.DeepCopy()
	if err := applyRelease(tpl, release); err != nil {
		return err
	}
	tpl.Labels[d.Label] = d.CanaryValue
	n := int32(replicas)
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		canary, err := d.Client.AppsV1().Deployments(t.Namespace).Get(ctx, canaryName, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			sel := stable.Spec.Selector.DeepCopy()
			if sel.MatchLabels == nil {
				sel.MatchLabels = map[string]string{}
			}
			sel.MatchLabels[d.Label] = d.CanaryValue
			labels := maps.Clone(stable.Labels)
			if labels == nil {
				labels = map[string]string{}
			}
			labels[d.Label] = d.CanaryValue
			labels["app.kubernetes.io/managed-by"] = "progressive"
			canary = &appsv1.Deployment{
				ObjectMeta: metav1.ObjectMeta{Name: canaryName, Namespace: t.Namespace, Labels: labels},
				Spec: appsv1.DeploymentSpec{
					Replicas: &n, Selector: sel, Template: *tpl,
					Strategy: stable.Spec.Strategy, MinReadySeconds: stable.Spec.MinReadySeconds,
				},
			}
			_, err = d.Client.AppsV1().Deployments(t.Namespace).Create(ctx, canary, metav1.CreateOptions{FieldManager: "progressive"})
			return err
		}
		if err != nil {
			return err
		}
		canary.Spec.Template = *tpl
		canary.Spec.Replicas = &n
		_, err = d.Client.AppsV1().Deployments(t.Namespace).Update(ctx, canary, metav1.UpdateOptions{FieldManager: "progressive"})
		return err
	})
	if err != nil {
		return fmt.Errorf("deploy %s as Deployment %s/%s: %w", release, t.Namespace, canaryName, err)
	}
	return nil
}

func applyRelease(tpl *corev1.PodTemplateSpec, release progressive.Release) error {
	if tpl.Labels == nil {
		tpl.Labels = map[string]string{}
	}
	if tpl.Annotations == nil {
		tpl.Annotations = map[string]string{}
	}
	b, _ := json.Marshal(release)
	tpl.Annotations[ReleaseAnnotation] = string(b)
	if release.Image == "" {
		return nil
	}
	for i := range tpl.Spec.Containers {
		if release.Container == "" || tpl.Spec.Containers[i].Name == release.Container {
			tpl.Spec.Containers[i].Image = release.Image
			return nil
		}
	}
	return fmt.Errorf("release %s: no container %q in the pod template: %w", release, release.Container, progressive.ErrInvalid)
}

// ScaleCanary sets the canary Deployment's replicas (one merge patch).
func (d *Deployments) ScaleCanary(ctx context.Context, t progressive.Target, replicas int) error {
	_, canaryName := d.names(t)
	patch := fmt.Sprintf(`{"spec":{"replicas":%d}}`, replicas)
	_, err := d.Client.AppsV1().Deployments(t.Namespace).Patch(ctx, canaryName, types.MergePatchType, []byte(patch), metav1.PatchOptions{FieldManager: "progressive"})
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("scale Deployment %s/%s: %w: %w", t.Namespace, canaryName, err, progressive.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("scale Deployment %s/%s: %w: %w", t.Namespace, canaryName, err, progressive.ErrTransient)
	}
	return nil
}

// Status reads both Deployments. Ready counts only pods of the current
// template, and conservatively: while old pods are still there they are all
// assumed ready.
func (d *Deployments) Status(ctx context.Context, t progressive.Target) (progressive.WorkloadStatus, error) {
	stableName, canaryName := d.names(t)
	stable, err := d.get(ctx, t.Namespace, stableName)
	if err != nil {
		return progressive.WorkloadStatus{}, err
	}
	out := progressive.WorkloadStatus{Stable: side(stable)}
	canary, err := d.Client.AppsV1().Deployments(t.Namespace).Get(ctx, canaryName, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return out, fmt.Errorf("Deployment %s/%s: %w: %w", t.Namespace, canaryName, err, progressive.ErrTransient)
	default:
		out.Canary = side(canary)
		for _, c := range canary.Status.Conditions {
			if c.Type == appsv1.DeploymentProgressing && c.Reason == "ProgressDeadlineExceeded" {
				out.ProgressDeadlineExceeded = true
			}
		}
	}
	return out, nil
}

func side(dep *appsv1.Deployment) progressive.VersionStatus {
	vs := progressive.VersionStatus{Version: Version(&dep.Spec.Template), Replicas: 1}
	if dep.Spec.Replicas != nil {
		vs.Replicas = int(*dep.Spec.Replicas)
	}
	st := dep.Status
	if st.ObservedGeneration < dep.Generation {
		return vs
	}
	vs.Updated = int(st.UpdatedReplicas)
	old := st.Replicas - st.UpdatedReplicas
	vs.Ready = int(max(0, min(st.UpdatedReplicas, st.ReadyReplicas-old)))
	return vs
}

// Version is the release a pod template runs: the version of its release
// annotation, else the tag of its first container's image.
func Version(tpl *corev1.PodTemplateSpec) string {
	var r progressive.Release
	if json.Unmarshal([]byte(tpl.Annotations[ReleaseAnnotation]), &r) == nil && r.Version != "" {
		return r.Version
	}
	if len(tpl.Spec.Containers) == 0 {
		return ""
	}
	img := tpl.Spec.Containers[0].Image
	if i := strings.LastIndex(img, ":"); i >= 0 && !strings.Contains(img[i:], "/") {
		return img[i+1:]
	}
	return img
}

// Promote gives the stable Deployment the canary's pod template with
// Label=StableValue (one Update, conflicts retried): exactly what was tested.
// The Deployment controller then replaces the stable pods; the runner waits
// for it through Status.
func (d *Deployments) Promote(ctx context.Context, t progressive.Target) error {
	stableName, canaryName := d.names(t)
	canary, err := d.get(ctx, t.Namespace, canaryName)
	if err != nil {
		return err
	}
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		stable, err := d.Client.AppsV1().Deployments(t.Namespace).Get(ctx, stableName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		tpl := canary.Spec.Template.DeepCopy()
		tpl.Labels[d.Label] = d.StableValue
		for k, v := range stable.Spec.Selector.MatchLabels {
			tpl.Labels[k] = v
		}
		stable.Spec.Template = *tpl
		_, err = d.Client.AppsV1().Deployments(t.Namespace).Update(ctx, stable, metav1.UpdateOptions{FieldManager: "progressive"})
		return err
	})
	if err != nil {
		return fmt.Errorf("promote: Deployment %s/%s takes the template of %s: %w", t.Namespace, stableName, canaryName, err)
	}
	return nil
}

// RollbackCanary scales the canary to zero; a missing canary is rolled back
// already. Stable is left as it is.
func (d *Deployments) RollbackCanary(ctx context.Context, t progressive.Target) error {
	err := d.ScaleCanary(ctx, t, 0)
	if errors.Is(err, progressive.ErrNotFound) {
		return nil
	}
	return err
}
