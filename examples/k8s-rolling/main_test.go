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

	"github.com/agentops/progressive"
	shared "github.com/agentops/progressive/examples/k8s-shared"
	"github.com/agentops/progressive/internal/testenv"
	"github.com/agentops/progressive/rollout"
)

var env *testenv.Env

func TestMain(m *testing.M) { os.Exit(testenv.RunMain(m, shared.TestenvOptions(), &env)) }

func TestContentAPIRollingUndone(t *testing.T) {
	e := env.Require(t)
	ns := e.NewNamespace(t)
	ctx := context.Background()
	var out bytes.Buffer
	res, err := run(ctx, e.Config(), config{Namespace: ns, Image: badImage, Pace: 200 * time.Millisecond, ReadyTimeout: 3 * time.Second}, &out)
	t.Log("\n" + out.String())
	require.NoError(t, err)
	require.Equal(t, rollout.PhaseRolledBack, res.State.Phase)
	assert.Contains(t, res.State.Rollback.Reason, "3 of 30 pods (10%) fail readiness")
	assert.Contains(t, res.State.Rollback.Reason, "over the 5% budget")
	assert.Equal(t, progressive.RollStatus{Desired: 30, Updated: 30, UpdatedReady: 30, Revision: 3}, res.Final, "back on the old template, as revision 3")
	d, err := e.Clientset().AppsV1().Deployments(ns).Get(ctx, "content-api", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "registry.example/content-api:v2.0.0", d.Spec.Template.Spec.Containers[0].Image)
	assert.False(t, d.Spec.Paused)
}

func TestContentAPIRollingHealthy(t *testing.T) {
	e := env.Require(t)
	ns := e.NewNamespace(t)
	ctx := context.Background()
	var out bytes.Buffer
	res, err := run(ctx, e.Config(), config{Namespace: ns, Image: goodImage, Pace: 200 * time.Millisecond, ReadyTimeout: 30 * time.Second}, &out)
	t.Log("\n" + out.String())
	require.NoError(t, err)
	require.Equal(t, rollout.PhaseSucceeded, res.State.Phase)
	require.Len(t, res.Batches, 10)
	for i, b := range res.Batches {
		assert.GreaterOrEqual(t, b.UpdatedReady, 3*(i+1), "batch %d", i+1)
	}
	assert.Less(t, res.Batches[0].Updated, 30, "the first batch stopped short of the whole Deployment")
	assert.Equal(t, progressive.RollStatus{Desired: 30, Updated: 30, UpdatedReady: 30, Revision: 2}, res.Final)
}
