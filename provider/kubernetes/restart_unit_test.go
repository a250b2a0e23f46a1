package kubernetes

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/agentops/progressive"
)

// TestRestartWarningNamesTheUnlabelledDeployment: adopting a Deployment whose
// pod template lacks the role label restarts all its pods, and the provider
// says so before any write; a labelled one restarts nothing.
func TestRestartWarningNamesTheUnlabelledDeployment(t *testing.T) {
	dep := func(name string, labels map[string]string) *appsv1.Deployment {
		n := int32(30)
		return &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name},
			Spec: appsv1.DeploymentSpec{
				Replicas: &n,
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}},
			},
		}
	}
	cs := fake.NewClientset(
		dep("checkout", map[string]string{"app": "checkout"}),
		dep("cart", map[string]string{"app": "cart", RoleLabel: "stable"}),
	)
	p := NewForClientset(cs, Options{NoEvents: true})
	ctx := context.Background()

	msg, err := p.Workload().RestartWarning(ctx, progressive.Target{Namespace: "shop", Name: "checkout"})
	require.NoError(t, err)
	assert.Contains(t, msg, "adopting Deployment shop/checkout adds progressive.agentops.io/role=stable to its pod template")
	assert.Contains(t, msg, "replaces all 30 of its pods once")

	msg, err = p.Router().RestartWarning(ctx, progressive.Target{Namespace: "shop", Name: "cart"})
	require.NoError(t, err)
	assert.Empty(t, msg, "labelled already: nothing restarts")

	_, err = p.Workload().RestartWarning(ctx, progressive.Target{Namespace: "shop", Name: "missing"})
	require.ErrorIs(t, err, progressive.ErrNotFound)

	acts := cs.Actions()
	for _, a := range acts {
		assert.Equal(t, "get", a.GetVerb(), "asking writes nothing")
	}
}
