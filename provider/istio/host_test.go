package istio

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sfake "k8s.io/client-go/kubernetes/fake"

	"github.com/agentops/progressive"
)

func TestServiceOf(t *testing.T) {
	for _, c := range []struct {
		host, ns, name string
		ok             bool
	}{
		{"checkout", "shop", "checkout", true},
		{"checkout.payments.svc.cluster.local", "payments", "checkout", true},
		{"payment.example.com", "", "", false},
		{"*.example.com", "", "", false},
		{"checkout.payments", "", "", false}, // not a name the router can resolve without Istio's search domains
		{".svc.cluster.local", "", "", false},
	} {
		ns, name, ok := serviceOf(c.host, "shop")
		assert.Equal(t, c.ok, ok, c.host)
		assert.Equal(t, c.ns, ns, c.host)
		assert.Equal(t, c.name, name, c.host)
	}
}

// TestMissingHostService: a destination host naming a Service that does not
// exist is refused before anything is created.
func TestMissingHostService(t *testing.T) {
	cs := fakeClientset()
	kube := k8sfake.NewClientset()
	r, err := NewForClients(cs, kube, Options{Create: true})
	require.NoError(t, err)
	err = r.SetRoutes(unitCtx(t), testTarget, progressive.WeightedRoutes(10))
	require.ErrorIs(t, err, progressive.ErrNotFound)
	assert.Contains(t, err.Error(), `destination host "checkout": Service shop/checkout`)
	vss, err := cs.NetworkingV1().VirtualServices(testNS).List(unitCtx(t), metav1.ListOptions{})
	require.NoError(t, err)
	assert.Empty(t, vss.Items, "nothing is created for a host that does not exist")

	_, err = kube.CoreV1().Services(testNS).Create(unitCtx(t), &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "checkout", Namespace: testNS}}, metav1.CreateOptions{})
	require.NoError(t, err)
	require.NoError(t, r.SetRoutes(unitCtx(t), testTarget, progressive.WeightedRoutes(10)))

	external, err := NewForClients(fakeClientset(), k8sfake.NewClientset(), Options{Create: true, Host: "payment.example.com"})
	require.NoError(t, err)
	require.NoError(t, external.SetRoutes(unitCtx(t), testTarget, progressive.WeightedRoutes(10)), "an external host is not the cluster's to check")
}
