package kubernetes

import (
	"context"
	"fmt"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/agentops/progressive/rollout"
)

// JobHookOptions configure a JobHook.
type JobHookOptions struct {
	// Namespace of the Job. Default: the target's namespace.
	Namespace string
	// PollInterval between reads of the Job. Default: the provider's PollInterval.
	PollInterval time.Duration
	// KeepFinishedFor is how long a finished Job (and its pods) stays for a
	// person to read its logs before Kubernetes' TTL controller deletes it
	// (spec.ttlSecondsAfterFinished). Default DefaultJobTTL; a JobSpec that
	// sets its own TTL keeps it. A Job still running is never deleted.
	KeepFinishedFor time.Duration
}

// DefaultJobTTL keeps a finished hook Job for a day: long enough for a
// post-incident look, short enough that Jobs do not pile up per rollout.
const DefaultJobTTL = 24 * time.Hour

// JobHook is a rollout.Hook that runs a Job, a schema migration say, and waits
// for it: Complete passes, Failed stops the rollout (the runner rolls back, and
// in a blue-green plan the migration runs before green exists, so no traffic has
// moved). Register it under the hook's name in rollout.Providers.Hooks and give
// the hook spec a Timeout long enough for the Job (the runner's default is 10s).
//
// The Job is named <target>-<hook>-<hash of rollout and hook> and created once
// per rollout: a runner resumed after a crash finds the Job it started and waits
// for it instead of running the migration twice. Each container gets the
// environment variables PROGRESSIVE_ROLLOUT, PROGRESSIVE_HOOK,
// PROGRESSIVE_RELEASE_VERSION and PROGRESSIVE_RELEASE_IMAGE. BackoffLimit
// defaults to 0 (a failed migration is not blindly retried) and the pods'
// restartPolicy to Never. A Job that times out is left running for a person to
// inspect.
type JobHook struct {
	p    *Provider
	spec batchv1.JobSpec
	opts JobHookOptions
}

var _ rollout.Hook = (*JobHook)(nil)

// JobHook returns a hook running Jobs with spec.
func (p *Provider) JobHook(spec batchv1.JobSpec, opts JobHookOptions) *JobHook {
	if opts.PollInterval <= 0 {
		opts.PollInterval = p.opts.PollInterval
	}
	if opts.KeepFinishedFor <= 0 {
		opts.KeepFinishedFor = DefaultJobTTL
	}
	return &JobHook{p: p, spec: *spec.DeepCopy(), opts: opts}
}

// JobName is the name of the Job a JobHook runs for req.
func JobName(req rollout.HookRequest) string {
	return dnsName(43, req.Target.Name, req.Hook) + "-" + shortHash(req.Rollout+"/"+req.Hook)
}

func (h *JobHook) job(req rollout.HookRequest, ns string) *batchv1.Job {
	spec := *h.spec.DeepCopy()
	if spec.BackoffLimit == nil {
		zero := int32(0)
		spec.BackoffLimit = &zero
	}
	if spec.TTLSecondsAfterFinished == nil {
		ttl := int32(h.opts.KeepFinishedFor / time.Second)
		spec.TTLSecondsAfterFinished = &ttl
	}
	if spec.Template.Spec.RestartPolicy == "" {
		spec.Template.Spec.RestartPolicy = corev1.RestartPolicyNever
	}
	env := []corev1.EnvVar{
		{Name: "PROGRESSIVE_ROLLOUT", Value: req.Rollout},
		{Name: "PROGRESSIVE_HOOK", Value: req.Hook},
		{Name: "PROGRESSIVE_RELEASE_VERSION", Value: req.Release.Version},
		{Name: "PROGRESSIVE_RELEASE_IMAGE", Value: req.Release.Image},
	}
	for i := range spec.Template.Spec.Containers {
		c := &spec.Template.Spec.Containers[i]
		for _, e := range env {
			if !hasEnv(c.Env, e.Name) {
				c.Env = append(c.Env, e)
			}
		}
	}
	lbl := map[string]string{
		ManagedByLabel: h.p.opts.FieldManager,
		ComponentLabel: "hook",
	}
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Name:        JobName(req),
			Namespace:   ns,
			Labels:      lbl,
			Annotations: map[string]string{RolloutAnnotation: req.Rollout, ReleaseAnnotation: releaseJSON(req.Release), "progressive.agentops.io/hook": req.Hook},
		},
		Spec: spec,
	}
}

func hasEnv(env []corev1.EnvVar, name string) bool {
	for _, e := range env {
		if e.Name == name {
			return true
		}
	}
	return false
}

// Run implements rollout.Hook.
func (h *JobHook) Run(ctx context.Context, req rollout.HookRequest) error {
	ns := h.opts.Namespace
	if ns == "" {
		ns = req.Target.Namespace
	}
	job := h.job(req, ns)
	jobs := h.p.cs.BatchV1().Jobs(ns)
	_, err := jobs.Create(ctx, job, h.p.createOpts())
	switch {
	case apierrors.IsAlreadyExists(err):
		// Started by this rollout before a restart: wait for that one.
	case err != nil:
		return classify(err, "kubernetes job hook %q: create Job %s/%s", req.Hook, ns, job.Name)
	}
	if h.p.opts.DryRun {
		return nil
	}
	start := time.Now()
	ticker := time.NewTicker(h.opts.PollInterval)
	defer ticker.Stop()
	for {
		j, err := jobs.Get(ctx, job.Name, metav1.GetOptions{})
		if err != nil {
			if cerr := classify(err, "kubernetes job hook %q: read Job %s/%s", req.Hook, ns, job.Name); !isTransient(cerr) {
				return cerr
			}
		} else {
			for _, c := range j.Status.Conditions {
				if c.Status != corev1.ConditionTrue {
					continue
				}
				switch c.Type {
				case batchv1.JobComplete:
					return nil
				case batchv1.JobFailed:
					msg := fmt.Sprintf("kubernetes job hook %q: Job %s/%s failed after %s: %s: %s", req.Hook, ns, job.Name, time.Since(start).Round(time.Millisecond), c.Reason, c.Message)
					if why := h.podFailures(ctx, ns, job.Name); why != "" {
						msg += "; " + why
					}
					return fmt.Errorf("%s", msg)
				}
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("kubernetes job hook %q: Job %s/%s did not finish in %s (left running for inspection): %w", req.Hook, ns, job.Name, time.Since(start).Round(time.Millisecond), ctx.Err())
		case <-ticker.C:
		}
	}
}

// podFailures collects the termination messages of a Job's failed pods.
func (h *JobHook) podFailures(ctx context.Context, ns, job string) string {
	pods, err := h.p.cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: labels.Set{batchv1.JobNameLabel: job}.String()})
	if err != nil {
		return ""
	}
	var out []string
	for _, pod := range pods.Items {
		for _, cs := range pod.Status.ContainerStatuses {
			if t := cs.State.Terminated; t != nil && t.ExitCode != 0 {
				s := fmt.Sprintf("pod %s container %s exited %d", pod.Name, cs.Name, t.ExitCode)
				if t.Message != "" {
					s += ": " + strings.TrimSpace(t.Message)
				}
				out = append(out, s)
			}
		}
	}
	return strings.Join(out, "; ")
}
