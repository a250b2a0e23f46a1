package kubernetes

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"

	"github.com/agentops/progressive"
)

// getStable reads the Deployment named by the target: from the namespace's
// Deployment informer while WatchStatus runs it (cachedDeployment: one
// informer per namespace and Provider, shared by every rollout it drives),
// else with a GET. At a thousand rollouts the GETs of deploy, adopt and
// promote steps were most of the API server's reads.
func (p *Provider) getStable(ctx context.Context, t progressive.Target) (*appsv1.Deployment, error) {
	if err := t.Validate(); err != nil {
		return nil, fmt.Errorf("kubernetes: target %q: %w", t.String(), err)
	}
	if nw := p.watches.statusCache(t.Namespace); nw != nil {
		// A stable Deployment the cache lacks is read directly: its absence
		// is an error worth the API server's own words.
		if d, ok := p.cachedDeployment(nw, t.Namespace, t.Name); ok && d != nil {
			return d, nil
		}
	}
	return p.fetchStable(ctx, t)
}

// fetchStable reads the Deployment named by the target with a GET.
func (p *Provider) fetchStable(ctx context.Context, t progressive.Target) (*appsv1.Deployment, error) {
	if err := t.Validate(); err != nil {
		return nil, fmt.Errorf("kubernetes: target %q: %w", t.String(), err)
	}
	d, err := p.cs.AppsV1().Deployments(t.Namespace).Get(ctx, t.Name, metav1.GetOptions{})
	if err != nil {
		return nil, classify(err, "kubernetes: stable Deployment %s", t)
	}
	if d.Spec.Replicas == nil {
		one := int32(1)
		d.Spec.Replicas = &one
	}
	return d, nil
}

// getCanary reads the canary Deployment, from the informer as getStable does;
// a missing one is (nil, nil).
func (p *Provider) getCanary(ctx context.Context, t progressive.Target) (*appsv1.Deployment, error) {
	if nw := p.watches.statusCache(t.Namespace); nw != nil {
		if d, ok := p.cachedDeployment(nw, t.Namespace, CanaryName(t)); ok {
			return d, nil
		}
	}
	d, err := p.cs.AppsV1().Deployments(t.Namespace).Get(ctx, CanaryName(t), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, classify(err, "kubernetes: canary Deployment %s/%s", t.Namespace, CanaryName(t))
	}
	if d.Spec.Replicas == nil {
		one := int32(1)
		d.Spec.Replicas = &one
	}
	return d, nil
}

// replicaSets lists the ReplicaSets owned by each of the given Deployments, in one
// List with the first Deployment's selector (the canary's pods carry the stable
// selector's labels, so it finds both sides).
func (p *Provider) replicaSets(ctx context.Context, ns string, sel *metav1.LabelSelector, owners ...*appsv1.Deployment) (map[types.UID][]appsv1.ReplicaSet, error) {
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return nil, fmt.Errorf("kubernetes: Deployment selector: %w: %w", err, errInvalid)
	}
	list, err := p.cs.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{LabelSelector: s.String()})
	if err != nil {
		return nil, classify(err, "kubernetes: list ReplicaSets in %s", ns)
	}
	out := map[types.UID][]appsv1.ReplicaSet{}
	for _, d := range owners {
		if d == nil {
			continue
		}
		for _, rs := range list.Items {
			if ref := metav1.GetControllerOf(&rs); ref != nil && ref.UID == d.UID {
				out[d.UID] = append(out[d.UID], rs)
			}
		}
	}
	return out, nil
}

// templatesEqual compares pod templates ignoring the controller's hash label, as
// the Deployment controller does to find a Deployment's current ReplicaSet.
func templatesEqual(a, b *corev1.PodTemplateSpec) bool {
	a, b = a.DeepCopy(), b.DeepCopy()
	delete(a.Labels, podTemplateHashLabel)
	delete(b.Labels, podTemplateHashLabel)
	return apiequality.Semantic.DeepEqual(a, b)
}

// currentReplicaSet is the ReplicaSet running d's template, if the controller has
// made it.
func currentReplicaSet(d *appsv1.Deployment, rss []appsv1.ReplicaSet) *appsv1.ReplicaSet {
	var found *appsv1.ReplicaSet
	for i := range rss {
		if templatesEqual(&rss[i].Spec.Template, &d.Spec.Template) {
			if found == nil || revisionOf(&rss[i]) > revisionOf(found) {
				found = &rss[i]
			}
		}
	}
	return found
}

func revisionOf(o metav1.Object) int64 {
	v, err := strconv.ParseInt(o.GetAnnotations()[RevisionAnnotation], 10, 64)
	if err != nil {
		return 0
	}
	return v
}

// versionOf names the release a template runs: its VersionLabel, else the image of
// its first container.
func versionOf(tpl *corev1.PodTemplateSpec) string {
	if v := tpl.Annotations[ReleaseAnnotation]; v != "" {
		var r progressive.Release
		if json.Unmarshal([]byte(v), &r) == nil && r.Version != "" {
			return r.Version
		}
	}
	if v := tpl.Labels[VersionLabel]; v != "" {
		return v
	}
	if len(tpl.Spec.Containers) > 0 {
		return tpl.Spec.Containers[0].Image
	}
	return ""
}

// applyRelease writes release into a pod template: the image of its container,
// VersionLabel and ReleaseAnnotation. role, when set, becomes the RoleLabel.
func applyRelease(tpl *corev1.PodTemplateSpec, release progressive.Release, role string) error {
	if tpl.Labels == nil {
		tpl.Labels = map[string]string{}
	}
	if tpl.Annotations == nil {
		tpl.Annotations = map[string]string{}
	}
	if role != "" {
		tpl.Labels[RoleLabel] = role
	}
	if release.Version != "" {
		tpl.Labels[VersionLabel] = labelValue(release.Version)
	}
	tpl.Annotations[ReleaseAnnotation] = releaseJSON(release)
	if release.Image == "" {
		return nil
	}
	if len(tpl.Spec.Containers) == 0 {
		return fmt.Errorf("kubernetes: the pod template has no container to give image %s: %w", release.Image, errInvalid)
	}
	if release.Container == "" {
		tpl.Spec.Containers[0].Image = release.Image
		return nil
	}
	names := make([]string, 0, len(tpl.Spec.Containers))
	for i := range tpl.Spec.Containers {
		if tpl.Spec.Containers[i].Name == release.Container {
			tpl.Spec.Containers[i].Image = release.Image
			return nil
		}
		names = append(names, tpl.Spec.Containers[i].Name)
	}
	return fmt.Errorf("kubernetes: release container %q is not in the pod template (containers: %s): %w", release.Container, strings.Join(names, ", "), errInvalid)
}

// rolledOut reports whether d finished its rollout the way kubectl rollout status
// means it, and why not.
func rolledOut(d *appsv1.Deployment) (bool, string) {
	want := *d.Spec.Replicas
	st := d.Status
	switch {
	case st.ObservedGeneration < d.Generation:
		return false, fmt.Sprintf("Deployment %s/%s: the controller has not observed generation %d yet", d.Namespace, d.Name, d.Generation)
	case progressDeadlineExceeded(d):
		return false, fmt.Sprintf("Deployment %s/%s exceeded its progress deadline", d.Namespace, d.Name)
	case st.UpdatedReplicas < want:
		return false, fmt.Sprintf("Deployment %s/%s: %d of %d pods updated", d.Namespace, d.Name, st.UpdatedReplicas, want)
	case st.Replicas > st.UpdatedReplicas:
		return false, fmt.Sprintf("Deployment %s/%s: %d old pods still terminating", d.Namespace, d.Name, st.Replicas-st.UpdatedReplicas)
	case st.AvailableReplicas < st.UpdatedReplicas:
		return false, fmt.Sprintf("Deployment %s/%s: %d of %d updated pods available", d.Namespace, d.Name, st.AvailableReplicas, st.UpdatedReplicas)
	}
	return true, ""
}

func progressDeadlineExceeded(d *appsv1.Deployment) bool {
	if d == nil || d.Status.ObservedGeneration < d.Generation {
		return false
	}
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentProgressing && c.Status == corev1.ConditionFalse && c.Reason == "ProgressDeadlineExceeded" {
			return true
		}
	}
	return false
}

// waitRolledOut polls d until its rollout finished.
func (p *Provider) waitRolledOut(ctx context.Context, ns, name string) error {
	return p.poll(ctx, p.opts.ReadyTimeout, func(ctx context.Context) (bool, string, error) {
		d, err := p.cs.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, "", classify(err, "kubernetes: Deployment %s/%s", ns, name)
		}
		if d.Spec.Replicas == nil {
			one := int32(1)
			d.Spec.Replicas = &one
		}
		if progressDeadlineExceeded(d) {
			return false, "", fmt.Errorf("kubernetes: Deployment %s/%s exceeded its progress deadline: %w", ns, name, errInvalid)
		}
		ok, why := rolledOut(d)
		return ok, why, nil
	})
}

// updateDeployment reads the Deployment, lets mutate change it, and writes it with
// its resourceVersion as precondition, retrying on conflicts with fresh reads
// (util/retry). mutate returning false skips the write.
func (p *Provider) updateDeployment(ctx context.Context, ns, name string, mutate func(d *appsv1.Deployment) (bool, error)) (*appsv1.Deployment, error) {
	var out *appsv1.Deployment
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		d, err := p.cs.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if d.Spec.Replicas == nil {
			one := int32(1)
			d.Spec.Replicas = &one
		}
		write, err := mutate(d)
		if err != nil {
			return err
		}
		if !write {
			out = d
			return nil
		}
		out, err = p.cs.AppsV1().Deployments(ns).Update(ctx, d, p.updateOpts())
		if err == nil {
			p.wroteDeployment(out)
		}
		return err
	})
	if err != nil {
		return nil, classify(err, "kubernetes: update Deployment %s/%s", ns, name)
	}
	return out, nil
}

// revisions lists the revision numbers of rss, ascending.
func revisions(rss []appsv1.ReplicaSet) []int64 {
	var out []int64
	for i := range rss {
		if r := revisionOf(&rss[i]); r > 0 {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
