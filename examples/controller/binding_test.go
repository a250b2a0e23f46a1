package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/controller"
	v1alpha1 "github.com/agentops/progressive/examples/controller/api/v1alpha1"
	"github.com/agentops/progressive/rollout"
)

func TestBindingPlan(t *testing.T) {
	pr := newRollout("shop", "checkout-v2", "checkout", "v2", 0)
	plan, err := binding{}.Plan(context.Background(), pr)
	require.NoError(t, err)
	assert.Equal(t, progressive.Target{Namespace: "shop", Name: "checkout"}, plan.Target)
	var names []string
	for _, s := range plan.Steps {
		names = append(names, s.Name)
	}
	assert.Equal(t, "deploy weight-25 analyze-25 weight-50 analyze-50 promote finalize", strings.Join(names, " "))
	assert.Equal(t, "ProgressiveRollout shop/checkout-v2", plan.Reason)

	other := pr.DeepCopy()
	other.Spec.Target.Namespace = "payments"
	_, err = binding{}.Plan(context.Background(), other)
	assert.ErrorIs(t, err, progressive.ErrInvalid, "no other namespace's traffic")

	bad := pr.DeepCopy()
	bad.Spec.Canary.Soak = "fortnight"
	bad.Spec.Checks[1].Interval = "-1s"
	_, err = binding{}.Plan(context.Background(), bad)
	require.ErrorIs(t, err, progressive.ErrInvalid)
	assert.Contains(t, err.Error(), "spec.canary.soak")
	assert.Contains(t, err.Error(), "spec.checks[1].interval")

	tooFar := pr.DeepCopy()
	tooFar.Spec.Canary.StepWeight = 60
	tooFar.Spec.Canary.MaxWeight = 50
	_, err = binding{}.Plan(context.Background(), tooFar)
	assert.ErrorIs(t, err, progressive.ErrInvalid)
}

func TestBindingCommand(t *testing.T) {
	pr := newRollout("shop", "checkout-v2", "checkout", "v2", 0)
	_, ok := binding{}.Command(pr)
	assert.False(t, ok)
	pr.Annotations = map[string]string{v1alpha1.CommandAnnotation: " Abort : error budget spent"}
	cmd, ok := binding{}.Command(pr)
	require.True(t, ok)
	assert.Equal(t, controller.Command{Kind: rollout.CommandAbort, Reason: "error budget spent", ID: " Abort : error budget spent"}, cmd)
	binding{}.SetStatus(pr, controller.Status{Command: cmd.ID})
	_, ok = binding{}.Command(pr)
	assert.False(t, ok, "a stored command is not given again")
}

// The API server enforces the CRD's schema: required fields, ranges, and an
// immutable spec.
func TestCRDValidates(t *testing.T) {
	t.Parallel()
	e := env.Require(t)
	ns := e.NewNamespace(t)
	cl := newClient(t, e)
	ctx := context.Background()

	noChecks := newRollout(ns, "no-checks", "checkout", "v2", 0)
	noChecks.Spec.Checks = nil
	err := cl.Create(ctx, noChecks)
	assert.True(t, apierrors.IsInvalid(err), "%v", err)

	noBound := newRollout(ns, "no-bound", "checkout", "v2", 0)
	noBound.Spec.Checks[0].Max = nil
	err = cl.Create(ctx, noBound)
	require.True(t, apierrors.IsInvalid(err), "%v", err)
	assert.Contains(t, err.Error(), "a check needs min or max")

	badWeight := newRollout(ns, "bad-weight", "checkout", "v2", 0)
	badWeight.Spec.Canary.StepWeight = 0
	assert.True(t, apierrors.IsInvalid(cl.Create(ctx, badWeight)))

	ok := newRollout(ns, "checkout-v2", "checkout", "v2", 0)
	require.NoError(t, cl.Create(ctx, ok))
	ok.Spec.Release.Version = "v3"
	err = cl.Update(ctx, ok)
	require.True(t, apierrors.IsInvalid(err), "%v", err)
	assert.Contains(t, err.Error(), "the spec is immutable")
}

// --install-crd applies the embedded CRD over the one TestMain installed
// (an update) and waits until it is Established.
func TestInstallCRD(t *testing.T) {
	t.Parallel()
	e := env.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, installCRD(ctx, e.Config()))
	_, rows, err := getTable(ctx, e.Clientset(), e.NewNamespace(t))
	require.NoError(t, err)
	assert.Empty(t, rows)
}
