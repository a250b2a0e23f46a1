package kubernetes

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/agentops/progressive"
)

func TestLabelValueAndNames(t *testing.T) {
	for _, v := range []string{"v2.0.0", "v2.0.0+build.7", "", "release/2026-11", strings.Repeat("x", 80), "-v1-"} {
		got := labelValue(v)
		assert.Empty(t, validation.IsValidLabelValue(got), "labelValue(%q) = %q", v, got)
	}
	assert.Equal(t, "v2.0.0", labelValue("v2.0.0"))
	assert.NotEqual(t, labelValue("a+b"), labelValue("a-b"), "sanitised values keep a hash")
	for _, parts := range [][]string{{"progressive-rollout", "checkout/v2 rollout"}, {"progressive-rollout", strings.Repeat("a", 100)}, {"progressive", "x"}} {
		got := dnsName(63, parts...)
		assert.Empty(t, validation.IsDNS1123Label(got), "dnsName(%q) = %q", parts, got)
	}
	assert.Equal(t, "progressive-rollout-checkout-v2", dnsName(63, "progressive-rollout", "checkout-v2"))
	assert.Equal(t, "orders-canary", CanaryName(progressive.Target{Name: "orders"}))
}

func TestBatchStrategy(t *testing.T) {
	for _, tc := range []struct {
		params      progressive.RollingParams
		batch       int32
		surge, unav int
	}{
		{progressive.RollingParams{MaxSurge: 3}, 3, 3, 0},
		{progressive.RollingParams{MaxSurge: 8, MaxUnavailable: 7}, 3, 3, 0},
		{progressive.RollingParams{MaxSurge: 1, MaxUnavailable: 7}, 3, 1, 2},
		{progressive.RollingParams{MaxUnavailable: 2}, 5, 0, 2},
		{progressive.RollingParams{MaxSurge: 3}, 0, 1, 0},
	} {
		s := batchStrategy(tc.params, tc.batch)
		assert.Equal(t, appsv1.RollingUpdateDeploymentStrategyType, s.Type)
		assert.Equal(t, tc.surge, s.RollingUpdate.MaxSurge.IntValue(), "%+v batch %d", tc.params, tc.batch)
		assert.Equal(t, tc.unav, s.RollingUpdate.MaxUnavailable.IntValue(), "%+v batch %d", tc.params, tc.batch)
	}
}

func TestClassify(t *testing.T) {
	gr := schema.GroupResource{Group: "apps", Resource: "deployments"}
	for _, tc := range []struct {
		err  error
		want error
	}{
		{apierrors.NewNotFound(gr, "x"), progressive.ErrNotFound},
		{apierrors.NewConflict(gr, "x", errors.New("changed")), progressive.ErrConflict},
		{apierrors.NewAlreadyExists(gr, "x"), progressive.ErrConflict},
		{apierrors.NewInvalid(schema.GroupKind{Group: "apps", Kind: "Deployment"}, "x", field.ErrorList{field.Required(field.NewPath("spec"), "")}), progressive.ErrInvalid},
		{apierrors.NewForbidden(gr, "x", errors.New("rbac")), progressive.ErrInvalid},
		{apierrors.NewTooManyRequests("slow down", 1), progressive.ErrTransient},
		{apierrors.NewInternalError(errors.New("etcd")), progressive.ErrTransient},
		{apierrors.NewServiceUnavailable("later"), progressive.ErrTransient},
		{&url.Error{Op: "Get", URL: "https://127.0.0.1:1", Err: errors.New("connection refused")}, progressive.ErrTransient},
	} {
		got := classify(tc.err, "doing %s", "it")
		assert.ErrorIs(t, got, tc.want, "%v", tc.err)
		assert.True(t, strings.HasPrefix(got.Error(), "doing it: "))
		assert.ErrorIs(t, got, tc.err, "the API error stays in the chain")
	}
	assert.Nil(t, classify(nil, "x"))
	got := classify(context.Canceled, "x")
	assert.ErrorIs(t, got, context.Canceled)
	assert.False(t, errors.Is(got, progressive.ErrTransient))
	assert.Contains(t, classify(apierrors.NewForbidden(gr, "x", errors.New("rbac")), "x").Error(), "kubernetes.Role")
}

func TestApplyRelease(t *testing.T) {
	tpl := corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "a:1"}, {Name: "proxy", Image: "p:1"}}}}
	require.NoError(t, applyRelease(&tpl, progressive.Release{Version: "v2", Image: "p:2", Container: "proxy"}, roleCanary))
	assert.Equal(t, "a:1", tpl.Spec.Containers[0].Image)
	assert.Equal(t, "p:2", tpl.Spec.Containers[1].Image)
	assert.Equal(t, "canary", tpl.Labels[RoleLabel])
	assert.Equal(t, "v2", tpl.Labels[VersionLabel])
	assert.Equal(t, "v2", versionOf(&tpl))
	err := applyRelease(&tpl, progressive.Release{Version: "v2", Image: "x:2", Container: "sidecar"}, "")
	require.ErrorIs(t, err, progressive.ErrInvalid)
	assert.Contains(t, err.Error(), "containers: app, proxy")
}

func TestRoutesUnsupportedWithoutCluster(t *testing.T) {
	r := NewForClientset(nil, Options{NoEvents: true}).Router()
	err := r.SetRoutes(context.Background(), progressive.Target{Namespace: "ns", Name: "x"}, progressive.Routes{StableWeight: 100, MirrorPercent: 5})
	require.ErrorIs(t, err, progressive.ErrUnsupported)
}
