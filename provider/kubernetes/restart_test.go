package kubernetes_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	k8s "github.com/agentops/progressive/provider/kubernetes"
)

// TestRestartWarningOnTheRealControlPlane: an unlabelled stable Deployment is
// named before anything is written; adopting it then makes the new ReplicaSet
// revision the warning announced, and from then on nothing restarts.
func TestRestartWarningOnTheRealControlPlane(t *testing.T) {
	e := env.Require(t)
	ns := e.NewNamespace(t)
	ctx := context.Background()
	cs := e.Clientset()
	seed(t, cs, ns, "orders", 3, "registry.example/orders:v1")
	p := newProvider(t, e.Config(), fastOptions())
	tg := target(ns, "orders")

	msg, err := p.Workload().RestartWarning(ctx, tg)
	require.NoError(t, err)
	assert.Contains(t, msg, "adopting Deployment "+ns+"/orders adds "+k8s.RoleLabel+"=stable to its pod template")
	assert.Contains(t, msg, "replaces all 3 of its pods once")
	before, err := cs.AppsV1().Deployments(ns).Get(ctx, "orders", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "1", before.Annotations[k8s.RevisionAnnotation], "asking wrote nothing")

	require.NoError(t, p.Adopt(ctx, tg))
	after := waitRolledOut(t, cs, ns, "orders")
	assert.Equal(t, "2", after.Annotations[k8s.RevisionAnnotation], "the restart the warning announced: a new revision")

	msg, err = p.Router().RestartWarning(ctx, tg)
	require.NoError(t, err)
	assert.Empty(t, msg, "adopted: nothing restarts any more")
}
