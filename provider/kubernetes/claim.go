package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/rollout"
)

// Two processes sharing this store (a controller's replicas, a CLI beside a
// controller) may Start rollouts of one target at the same instant; each
// process's own check-then-create is not enough across processes. A claim is
// one ConfigMap per subject (a target or a flag) naming the rollout that holds
// it. Creating it, or taking it over from an ended holder with a
// resourceVersion-guarded update, is one atomic write: of two Starts, exactly
// one gets the subject. Claims are never deleted (deleting needs a verb the
// store otherwise does not): a released or stale claim is taken over.

const (
	// ClaimHolderKey in a claim ConfigMap names the rollout holding the
	// subject; empty when released.
	ClaimHolderKey = "rollout"
	// ClaimSubjectKey is the subject the claim is for ("target ns/name").
	ClaimSubjectKey = "subject"
	// ClaimedAtAnnotation is when the holder claimed it (RFC 3339).
	ClaimedAtAnnotation = "progressive.agentops.io/claimed-at"
	// ClaimGrace is how long a claim whose rollout has no state yet counts as
	// held: the claimer creates the state right after claiming, and a claimer
	// that died in between must not block the target for good.
	ClaimGrace = time.Minute
	// maxClaimAttempts bounds the retries of a takeover that loses a race.
	maxClaimAttempts = 5
)

var _ rollout.SubjectClaimer = (*Store)(nil)

// ClaimConfigMapName is the name of the ConfigMap claiming subject.
func ClaimConfigMapName(subject string) string { return dnsName(63, "progressive-claim", subject) }

// ClaimSubjects implements rollout.SubjectClaimer.
func (s *Store) ClaimSubjects(ctx context.Context, id string, subjects []string) error {
	if s.p.opts.DryRun {
		return nil
	}
	var claimed []string
	for _, subject := range subjects {
		if err := s.claim(ctx, id, subject); err != nil {
			if rerr := s.ReleaseSubjects(context.WithoutCancel(ctx), id, claimed); rerr != nil {
				err = errors.Join(err, rerr)
			}
			return err
		}
		claimed = append(claimed, subject)
	}
	return nil
}

func (s *Store) claim(ctx context.Context, id, subject string) error {
	cms := s.p.cs.CoreV1().ConfigMaps(s.namespace)
	name := ClaimConfigMapName(subject)
	for attempt := 1; ; attempt++ {
		now := time.Now().UTC()
		_, err := cms.Create(ctx, s.claimConfigMap(name, id, subject, now), s.p.createOpts())
		if err == nil {
			return nil
		}
		if !apierrors.IsAlreadyExists(err) {
			return classify(err, "kubernetes store: claim %s for rollout %q (ConfigMap %s/%s)", subject, id, s.namespace, name)
		}
		// Read past any cache: the decision rests on the latest holder.
		cur, err := cms.Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) && attempt < maxClaimAttempts {
			continue
		}
		if err != nil {
			return classify(err, "kubernetes store: read the claim of %s (ConfigMap %s/%s)", subject, s.namespace, name)
		}
		holder := cur.Data[ClaimHolderKey]
		if holder == id {
			return nil
		}
		if holder != "" {
			busy, err := s.holds(ctx, holder, cur, now)
			if err != nil {
				return err
			}
			if busy != "" {
				return fmt.Errorf("%s is claimed by rollout %s (%s): %w: %w", subject, holder, busy, rollout.ErrTargetBusy, progressive.ErrConflict)
			}
		}
		next := cur.DeepCopy()
		next.Data = map[string]string{ClaimHolderKey: id, ClaimSubjectKey: subject}
		if next.Annotations == nil {
			next.Annotations = map[string]string{}
		}
		next.Annotations[ClaimedAtAnnotation] = now.Format(time.RFC3339)
		_, err = cms.Update(ctx, next, s.p.updateOpts())
		if err == nil {
			return nil
		}
		if !apierrors.IsConflict(err) || attempt >= maxClaimAttempts {
			return classify(err, "kubernetes store: take over the claim of %s from %q (ConfigMap %s/%s)", subject, holder, s.namespace, name)
		}
	}
}

// holds says why holder still holds its claim (its phase, or a claim too
// fresh for its state to exist yet), or "" when the claim may be taken over.
func (s *Store) holds(ctx context.Context, holder string, claim *corev1.ConfigMap, now time.Time) (string, error) {
	st, err := s.Get(ctx, holder)
	switch {
	case err == nil && st.Phase.Terminal():
		return "", nil
	case err == nil:
		return string(st.Phase), nil
	case errors.Is(err, progressive.ErrNotFound):
		at, perr := time.Parse(time.RFC3339, claim.Annotations[ClaimedAtAnnotation])
		if perr == nil && now.Sub(at) < ClaimGrace {
			return "claimed at " + at.Format(time.RFC3339) + ", starting", nil
		}
		return "", nil
	default:
		return "", fmt.Errorf("kubernetes store: is rollout %q, which claims a subject, still running: %w", holder, err)
	}
}

// ReleaseSubjects implements rollout.SubjectClaimer: each claim still held by
// id is emptied.
func (s *Store) ReleaseSubjects(ctx context.Context, id string, subjects []string) error {
	if s.p.opts.DryRun {
		return nil
	}
	cms := s.p.cs.CoreV1().ConfigMaps(s.namespace)
	var errs []error
	for _, subject := range subjects {
		name := ClaimConfigMapName(subject)
		cur, err := cms.Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			errs = append(errs, classify(err, "kubernetes store: read the claim of %s", subject))
			continue
		}
		if cur.Data[ClaimHolderKey] != id {
			continue
		}
		next := cur.DeepCopy()
		next.Data = map[string]string{ClaimHolderKey: "", ClaimSubjectKey: subject}
		if _, err := cms.Update(ctx, next, s.p.updateOpts()); err != nil && !apierrors.IsConflict(err) {
			// A conflict means someone took the claim over: nothing to give back.
			errs = append(errs, classify(err, "kubernetes store: release the claim of %s", subject))
		}
	}
	return errors.Join(errs...)
}

func (s *Store) claimConfigMap(name, id, subject string, now time.Time) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{
			Name:      name,
			Namespace: s.namespace,
			Labels: map[string]string{
				ManagedByLabel: s.p.opts.FieldManager,
				ComponentLabel: "rollout-claim",
			},
			Annotations: map[string]string{ClaimedAtAnnotation: now.Format(time.RFC3339)},
		},
		Data: map[string]string{ClaimHolderKey: id, ClaimSubjectKey: subject},
	}
}
