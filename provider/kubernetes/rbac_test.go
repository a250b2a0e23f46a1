package kubernetes_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/agentops/progressive"
	k8s "github.com/agentops/progressive/provider/kubernetes"
	"github.com/agentops/progressive/rollout"
	"github.com/agentops/progressive/strategy"
)

func TestRoleMatchesYAML(t *testing.T) {
	role, err := k8s.Role("shop")
	require.NoError(t, err)
	assert.Equal(t, "shop", role.Namespace)
	assert.Equal(t, k8s.RoleName, role.Name)
	for _, rule := range role.Rules {
		assert.NotContains(t, rule.Verbs, "delete", "the provider deletes nothing")
		assert.NotContains(t, rule.Verbs, "*")
		assert.NotContains(t, rule.Resources, "*")
		assert.NotContains(t, rule.Resources, "secrets")
	}
}

// serviceAccountConfig creates a ServiceAccount bound only to k8s.Role and
// returns a rest.Config authenticating as it with a TokenRequest token.
func serviceAccountConfig(t *testing.T, admin *rest.Config, cs kubernetes.Interface, ns string) *rest.Config {
	t.Helper()
	return serviceAccountConfigWith(t, admin, cs, ns, nil)
}

// withoutWatch drops the watch verb on resources from a Role: what a cluster
// whose administrators trimmed role.yaml grants.
func withoutWatch(resources ...string) func(*rbacv1.Role) {
	return func(r *rbacv1.Role) {
		for i, rule := range r.Rules {
			if slices.ContainsFunc(rule.Resources, func(res string) bool { return slices.Contains(resources, res) }) {
				r.Rules[i].Verbs = slices.DeleteFunc(slices.Clone(rule.Verbs), func(v string) bool { return v == "watch" })
			}
		}
	}
}

// serviceAccountConfigWith is serviceAccountConfig with the Role changed by
// mutate first (nil: role.yaml as it is).
func serviceAccountConfigWith(t *testing.T, admin *rest.Config, cs kubernetes.Interface, ns string, mutate func(*rbacv1.Role)) *rest.Config {
	t.Helper()
	ctx := context.Background()
	_, err := cs.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "deployer"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	role, err := k8s.Role(ns)
	require.NoError(t, err)
	if mutate != nil {
		mutate(role)
	}
	_, err = cs.RbacV1().Roles(ns).Create(ctx, role, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = cs.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "deployer-progressive"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "deployer", Namespace: ns}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	exp := int64(3600)
	tok, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, "deployer", &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &exp}}, metav1.CreateOptions{})
	require.NoError(t, err)
	return &rest.Config{Host: admin.Host, TLSClientConfig: rest.TLSClientConfig{CAData: admin.CAData}, BearerToken: tok.Status.Token}
}

// TestLeastPrivilegeRole runs a whole blue-green rollout, with a migration Job, the
// ConfigMap store, a Lease and Events, as a ServiceAccount bound only to the
// documented Role, and checks that the Role grants nothing beyond.
func TestLeastPrivilegeRole(t *testing.T) {
	e := env.Require(t)
	ns := e.NewNamespace(t)
	ctx := context.Background()
	cs := e.Clientset()
	seed(t, cs, ns, "orders", 3, "registry.example/orders:v1")
	cfg := serviceAccountConfig(t, e.Config(), cs, ns)

	p := newProvider(t, cfg, fastOptions())
	store, err := p.Store(ns)
	require.NoError(t, err)
	hooks := map[string]rollout.Hook{
		"migrate": p.JobHook(migrationJob(nil), k8s.JobHookOptions{}),
		"smoke":   rollout.HookFunc(func(context.Context, rollout.HookRequest) error { return nil }),
	}
	r := newRunner(t, p, store, newFixedMetrics(0.1, 0.2), hooks)
	tg := target(ns, "orders")
	plan, err := strategy.BlueGreen{Replicas: 3, Migration: &progressive.HookSpec{Name: "migrate", Timeout: 30 * time.Second},
		Validation: []progressive.HookSpec{{Name: "smoke"}}, Checks: errorRate(), Monitor: time.Second, DecommissionDelay: 500 * time.Millisecond}.
		Plan(tg, progressive.Release{Version: "v2", Image: "registry.example/orders:v2"})
	require.NoError(t, err)
	_, err = r.Start(ctx, plan)
	require.NoError(t, err)
	lease, err := p.Lease(tg, testLease("deployer", false))
	require.NoError(t, err)
	st, err := k8s.RunWithLease(ctx, lease, r, plan.Name)
	require.NoError(t, err)
	require.Equal(t, rollout.PhaseSucceeded, st.Phase, "decisions: %v", st.Record.Decisions)

	d, err := cs.AppsV1().Deployments(ns).Get(ctx, "orders", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "registry.example/orders:v2", d.Spec.Template.Spec.Containers[0].Image)
	eventually(t, testTimeout, func() error {
		evs, err := cs.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=orders,involvedObject.kind=Deployment"})
		if err != nil {
			return err
		}
		reasons := map[string]bool{}
		for _, ev := range evs.Items {
			if ev.Source.Component == k8s.DefaultFieldManager {
				reasons[ev.Reason] = true
			}
		}
		for _, want := range []string{"Adopted", "CanaryDeployed", "TrafficShifted", "Promoted"} {
			if !reasons[want] {
				return errorf("no %s Event yet (have %v)", want, reasons)
			}
		}
		return nil
	})

	// Nothing beyond the Role.
	sa, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	err = sa.AppsV1().Deployments(ns).Delete(ctx, "orders", metav1.DeleteOptions{})
	assert.True(t, apierrors.IsForbidden(err), "delete deployments: %v", err)
	_, err = sa.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{})
	assert.True(t, apierrors.IsForbidden(err), "list secrets: %v", err)
	_, err = sa.AppsV1().Deployments("default").Get(ctx, "anything", metav1.GetOptions{})
	assert.True(t, apierrors.IsForbidden(err), "other namespaces: %v", err)
	_, err = sa.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "x"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "x", Image: "x"}}}}, metav1.CreateOptions{})
	assert.True(t, apierrors.IsForbidden(err), "create pods: %v", err)
}
