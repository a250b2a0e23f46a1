package main

import (
	"bytes"
	"context"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"istio.io/client-go/pkg/clientset/versioned"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	istioshared "github.com/agentops/progressive/examples/istio-shared"
	"github.com/agentops/progressive/internal/testenv"
	"github.com/agentops/progressive/rollout"
)

var env *testenv.Env

func TestMain(m *testing.M) { os.Exit(istioshared.RunMain(m, &env)) }

// canaryWeight reads the VirtualService payment-service with Istio's typed
// client and returns the weights a request without headers gets.
func canaryWeight(t *testing.T, e *testenv.Env, ns string) istioshared.Destination {
	t.Helper()
	ic, err := versioned.NewForConfig(e.Config())
	require.NoError(t, err)
	vs, err := ic.NetworkingV1().VirtualServices(ns).Get(context.Background(), "payment-service", metav1.GetOptions{})
	require.NoError(t, err)
	return istioshared.Evaluate(vs, istioshared.Request{Path: "/"})
}

func image(t *testing.T, e *testenv.Env, ns, name string) (string, int32) {
	t.Helper()
	d, err := e.Clientset().AppsV1().Deployments(ns).Get(context.Background(), name, metav1.GetOptions{})
	require.NoError(t, err)
	return d.Spec.Template.Spec.Containers[0].Image, *d.Spec.Replicas
}

func TestPaymentServicePromoted(t *testing.T) {
	e := env.Require(t)
	ns := e.NewNamespace(t)
	var out bytes.Buffer
	res, err := run(context.Background(), e.Config(), config{Namespace: ns, Phase: 1500 * time.Millisecond}, &out)
	t.Log("\n" + out.String())
	require.NoError(t, err)
	require.Equal(t, rollout.PhaseSucceeded, res.State.Phase)

	// Each phase, as read back from the VirtualService: 10, 50, 100, then the
	// route back on the stable subset, which runs the release by then.
	var canary, stable []int32
	for _, ch := range res.Changes {
		d := istioshared.Evaluate(ch.VS, istioshared.Request{Path: "/"})
		assert.Equal(t, "progressive-payment-service", d.Route)
		canary = append(canary, d.Weights["canary"])
		stable = append(stable, d.Weights["stable"])
		assert.Equal(t, int64(1), ch.Writes, "each traffic change is one write")
		assert.Equal(t, ch.GenerationBefore+1, ch.GenerationAfter, "each traffic change is one spec change")
	}
	assert.Equal(t, []int32{10, 50, 100, 0}, canary)
	assert.Equal(t, []int32{90, 50, 0, 100}, stable)
	assert.True(t, res.Changes[len(res.Changes)-1].Finalize)
	assert.Equal(t, map[string]int32{"stable": 100, "canary": 0}, canaryWeight(t, e, ns).Weights)

	img, replicas := image(t, e, ns, "payment-service")
	assert.Equal(t, "registry.example.com/payment-service:v2.0.0", img, "stable took the canary's template")
	assert.Equal(t, int32(10), replicas)
	_, replicas = image(t, e, ns, "payment-service-canary")
	assert.Equal(t, int32(0), replicas, "the canary was scaled away")
	assert.Empty(t, failedChecks(res.Record))
}

func TestPaymentServiceRollbackTriggers(t *testing.T) {
	e := env.Require(t)
	for _, tc := range []struct {
		bad, check string
	}{
		{"errors", checkErrors},
		{"latency", checkLatency},
		{"cpu", checkCPU},
	} {
		t.Run(tc.bad, func(t *testing.T) {
			ns := e.NewNamespace(t)
			var out bytes.Buffer
			res, err := run(context.Background(), e.Config(), config{Namespace: ns, Phase: 1500 * time.Millisecond, Bad: tc.bad, BadAt: 50}, &out)
			t.Log("\n" + out.String())
			require.NoError(t, err)
			require.Equal(t, rollout.PhaseRolledBack, res.State.Phase)
			assert.Equal(t, []string{tc.check}, failedChecks(res.Record), "the decision record names the failed check, and only it")
			assert.Equal(t, 50.0, res.Record.Impact.MaxCanaryWeight, "10% passed; the fault showed at 50%")

			require.Len(t, res.Changes, 3)
			back := res.Changes[2]
			assert.Equal(t, 0.0, back.Asked.CanaryWeight)
			assert.Equal(t, int64(1), back.Writes, "the rollback is one write")
			assert.Equal(t, map[string]int32{"stable": 100, "canary": 0}, istioshared.Evaluate(back.VS, istioshared.Request{Path: "/"}).Weights)
			assert.Equal(t, map[string]int32{"stable": 100, "canary": 0}, canaryWeight(t, e, ns).Weights, "0% canary in the VirtualService")

			img, replicas := image(t, e, ns, "payment-service")
			assert.Equal(t, "registry.example.com/payment-service:v1.9.0", img, "stable untouched")
			assert.Equal(t, int32(10), replicas)
			_, replicas = image(t, e, ns, "payment-service-canary")
			assert.Equal(t, int32(0), replicas, "the canary was scaled away")
		})
	}
}
