package main

import (
	"bytes"
	"context"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/agentops/progressive/internal/testenv"
	"github.com/agentops/progressive/rollout"
)

var env *testenv.Env

func TestMain(m *testing.M) { os.Exit(testenv.RunMain(m, testenv.Options{}, &env)) }

func TestUserAuthenticationAPICanaryPromoted(t *testing.T) {
	e := env.Require(t)
	ns := e.NewNamespace(t)
	var out bytes.Buffer
	res, err := run(context.Background(), e.Config(), config{Namespace: ns, Soak: 2 * time.Second}, &out)
	t.Log("\n" + out.String())
	require.NoError(t, err)
	require.Equal(t, rollout.PhaseSucceeded, res.State.Phase)
	require.NotEmpty(t, res.Changes)
	assert.InDelta(t, 100*2.0/22, res.Changes[0].Achieved.CanaryWeight, 1e-9, "2 of 22 pods")
	assert.InDelta(t, 10, res.Changes[0].Asked.CanaryWeight, 1e-9)
	d, err := e.Clientset().AppsV1().Deployments(ns).Get(context.Background(), "user-authentication-api", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "registry.example/user-authentication-api:v1.5.0", d.Spec.Template.Spec.Containers[0].Image)
	assert.Equal(t, int32(20), *d.Spec.Replicas)
	c, err := e.Clientset().AppsV1().Deployments(ns).Get(context.Background(), "user-authentication-api-canary", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, int32(0), *c.Spec.Replicas)
}

func TestUserAuthenticationAPICanaryRolledBack(t *testing.T) {
	e := env.Require(t)
	ns := e.NewNamespace(t)
	var out bytes.Buffer
	res, err := run(context.Background(), e.Config(), config{Namespace: ns, Soak: 2 * time.Second, Bad: true}, &out)
	t.Log("\n" + out.String())
	require.NoError(t, err)
	require.Equal(t, rollout.PhaseRolledBack, res.State.Phase)
	last := res.Changes[len(res.Changes)-1]
	assert.Equal(t, 0.0, last.Achieved.CanaryWeight)
	// The count is every non-GET request of the provider's client in that window:
	// the one Service write, plus at most a Lease renewal or an Event that happens
	// to land in it. provider/kubernetes' own tests pin the write to exactly one.
	assert.Contains(t, []int64{1, 2}, last.Writes, "the rollback is one write")
	assert.Positive(t, res.RollbackLatency)
	d, err := e.Clientset().AppsV1().Deployments(ns).Get(context.Background(), "user-authentication-api", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "registry.example/user-authentication-api:v1.4.0", d.Spec.Template.Spec.Containers[0].Image)
}
