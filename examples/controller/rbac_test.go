package main

import (
	"bytes"
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	"github.com/agentops/progressive/internal/testenv"
)

const rbacFile = "config/rbac.yaml"

// rbacObjects are the documents of config/rbac.yaml.
type rbacObjects struct {
	sa                 corev1.ServiceAccount
	clusterRole        rbacv1.ClusterRole
	clusterRoleBinding rbacv1.ClusterRoleBinding
	role               rbacv1.Role
	roleBinding        rbacv1.RoleBinding
}

func readRBAC(t *testing.T) rbacObjects {
	t.Helper()
	raw, err := os.ReadFile(rbacFile)
	require.NoError(t, err)
	var objs rbacObjects
	kinds := map[string]bool{}
	for _, doc := range bytes.Split(raw, []byte("\n---\n")) {
		var meta metav1.TypeMeta
		require.NoError(t, yaml.Unmarshal(doc, &meta))
		var into any
		switch meta.Kind {
		case "Namespace":
			continue
		case "ServiceAccount":
			into = &objs.sa
		case "ClusterRole":
			into = &objs.clusterRole
		case "ClusterRoleBinding":
			into = &objs.clusterRoleBinding
		case "Role":
			into = &objs.role
		case "RoleBinding":
			into = &objs.roleBinding
		default:
			t.Fatalf("%s: unexpected kind %q", rbacFile, meta.Kind)
		}
		require.NoError(t, yaml.UnmarshalStrict(doc, into), meta.Kind)
		kinds[meta.Kind] = true
	}
	require.Len(t, kinds, 5, "%s: a ServiceAccount, a ClusterRole, a Role and their bindings", rbacFile)
	return objs
}

// rbacApplied keeps applyRBAC to one application per namespace (the
// failover test starts two replicas in one).
var rbacApplied sync.Map

// applyRBAC applies config/rbac.yaml for an operator whose ServiceAccount and
// state namespace are ns (the cluster-wide names suffixed with ns, so that
// tests in parallel do not share them) and returns a rest.Config of the
// cluster impersonating that ServiceAccount: the operator then has exactly
// the manifest's permissions, and one it lacks fails the test.
func applyRBAC(t *testing.T, e *testenv.Env, ns string) *rest.Config {
	t.Helper()
	objs := readRBAC(t)
	user := "system:serviceaccount:" + ns + ":" + objs.sa.Name
	cfg := e.Config()
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user}
	if _, loaded := rbacApplied.LoadOrStore(ns, true); loaded {
		return cfg
	}
	ctx := context.Background()
	cs := e.Clientset()
	suffix := "-" + ns
	objs.sa.Namespace = ns
	objs.clusterRole.Name += suffix
	crb := objs.clusterRoleBinding
	crb.Name += suffix
	crb.RoleRef.Name = objs.clusterRole.Name
	objs.role.Namespace = ns
	rb := objs.roleBinding
	rb.Namespace = ns
	for _, b := range []*[]rbacv1.Subject{&crb.Subjects, &rb.Subjects} {
		for i := range *b {
			(*b)[i].Namespace = ns
		}
	}
	_, err := cs.CoreV1().ServiceAccounts(ns).Create(ctx, &objs.sa, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = cs.RbacV1().ClusterRoles().Create(ctx, &objs.clusterRole, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = cs.RbacV1().ClusterRoleBindings().Create(ctx, &crb, metav1.CreateOptions{})
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = cs.RbacV1().ClusterRoleBindings().Delete(context.Background(), crb.Name, metav1.DeleteOptions{})
		_ = cs.RbacV1().ClusterRoles().Delete(context.Background(), objs.clusterRole.Name, metav1.DeleteOptions{})
	})
	_, err = cs.RbacV1().Roles(ns).Create(ctx, &objs.role, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = cs.RbacV1().RoleBindings(ns).Create(ctx, &rb, metav1.CreateOptions{})
	require.NoError(t, err)

	// The authorizer learns of new bindings through its informers: wait
	// until the last one counts, so that the operator does not start on a
	// refusal that is only late.
	sa := kubernetes.NewForConfigOrDie(cfg)
	require.Eventually(t, func() bool {
		return allowed(t, sa, ns, "patch", "progressive.agentops.dev", "progressiverollouts", "status") &&
			allowed(t, sa, ns, "update", "", "configmaps", "")
	}, 30*time.Second, 50*time.Millisecond, "the bindings of %s did not take effect", rbacFile)
	return cfg
}

// allowed asks the API server whether the client's user may do verb on
// resource (subresource) in ns.
func allowed(t *testing.T, cs kubernetes.Interface, ns, verb, group, resource, sub string) bool {
	t.Helper()
	r, err := cs.AuthorizationV1().SelfSubjectAccessReviews().Create(context.Background(), &authorizationv1.SelfSubjectAccessReview{
		Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authorizationv1.ResourceAttributes{
			Namespace: ns, Verb: verb, Group: group, Resource: resource, Subresource: sub,
		}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	return r.Status.Allowed
}

// The manifest is least privilege: the ServiceAccount may do what the
// operator does (the e2e tests prove it is enough, running as it) and is
// refused what it does not: namespaces, Secrets, deleting workloads, the
// CRD, or the state ConfigMaps of another namespace.
func TestRBACIsLeastPrivilege(t *testing.T) {
	t.Parallel()
	e := env.Require(t)
	ns := e.NewNamespace(t)
	other := e.NewNamespace(t)
	sa := kubernetes.NewForConfigOrDie(applyRBAC(t, e, ns))

	for _, ok := range []struct{ ns, verb, group, resource, sub string }{
		{other, "watch", "progressive.agentops.dev", "progressiverollouts", ""},
		{other, "patch", "progressive.agentops.dev", "progressiverollouts", "status"},
		{other, "patch", "apps", "deployments", ""},
		{other, "update", "", "services", ""},
		{other, "create", "events.k8s.io", "events", ""},
		{ns, "delete", "", "configmaps", ""},
		{ns, "update", "coordination.k8s.io", "leases", ""},
	} {
		assert.True(t, allowed(t, sa, ok.ns, ok.verb, ok.group, ok.resource, ok.sub), "%+v", ok)
	}
	for _, no := range []struct{ ns, verb, group, resource, sub string }{
		{"", "create", "", "namespaces", ""},
		{ns, "get", "", "secrets", ""},
		{other, "list", "", "secrets", ""},
		{other, "delete", "apps", "deployments", ""},
		{other, "delete", "", "services", ""},
		{other, "update", "progressive.agentops.dev", "progressiverollouts", ""},
		{other, "get", "", "configmaps", ""},
		{other, "create", "coordination.k8s.io", "leases", ""},
		{other, "create", "batch", "jobs", ""},
		{"", "create", "apiextensions.k8s.io", "customresourcedefinitions", ""},
	} {
		assert.False(t, allowed(t, sa, no.ns, no.verb, no.group, no.resource, no.sub), "%+v", no)
	}
	_, err := sa.CoreV1().Secrets(ns).List(context.Background(), metav1.ListOptions{})
	assert.True(t, apierrors.IsForbidden(err), "the impersonation is in force: %v", err)
}
