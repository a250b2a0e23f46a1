package main

import (
	"bytes"
	"context"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	shared "github.com/agentops/progressive/examples/k8s-shared"
	"github.com/agentops/progressive/internal/testenv"
	k8s "github.com/agentops/progressive/provider/kubernetes"
	"github.com/agentops/progressive/rollout"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	os.Exit(testenv.RunMain(m, shared.TestenvOptions(), &env))
}

func cfg(ns string) config {
	return config{Namespace: ns, MigrationImage: "registry.example/order-management-migrations:v3.2.0", Monitor: 2 * time.Second, Decommission: time.Second}
}

func TestOrderManagementBlueGreen(t *testing.T) {
	e := env.Require(t)
	ns := e.NewNamespace(t)
	ctx := context.Background()
	var out bytes.Buffer
	res, err := run(ctx, e.Config(), cfg(ns), &out)
	t.Log("\n" + out.String())
	require.NoError(t, err)
	require.Equal(t, rollout.PhaseSucceeded, res.State.Phase)
	require.GreaterOrEqual(t, len(res.Changes), 2)
	assert.Equal(t, 100.0, res.Changes[0].Achieved.CanaryWeight, "the switch")
	// The count is every non-GET request of the provider's client in that window:
	// the one Service write, plus at most a Lease renewal or an Event that happens
	// to land in it. provider/kubernetes' own tests pin the write to exactly one.
	assert.Contains(t, []int64{1, 2}, res.Changes[0].Writes, "the switch is one write")
	d, err := e.Clientset().AppsV1().Deployments(ns).Get(ctx, "order-management", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "registry.example/order-management:v3.2.0", d.Spec.Template.Spec.Containers[0].Image, "blue was decommissioned: it runs green's template")
	g, err := e.Clientset().AppsV1().Deployments(ns).Get(ctx, "order-management-canary", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, int32(0), *g.Spec.Replicas)
	jobs, err := e.Clientset().BatchV1().Jobs(ns).List(ctx, metav1.ListOptions{LabelSelector: k8s.ComponentLabel + "=hook"})
	require.NoError(t, err)
	require.Len(t, jobs.Items, 1)
	assert.Equal(t, int32(1), jobs.Items[0].Status.Succeeded, "the migration ran once and completed")
}

func TestOrderManagementSwitchBack(t *testing.T) {
	e := env.Require(t)
	ns := e.NewNamespace(t)
	ctx := context.Background()
	c := cfg(ns)
	c.FailAfterSwitch = true
	var out bytes.Buffer
	res, err := run(ctx, e.Config(), c, &out)
	t.Log("\n" + out.String())
	require.NoError(t, err)
	require.Equal(t, rollout.PhaseRolledBack, res.State.Phase)
	require.Len(t, res.Changes, 2)
	assert.Equal(t, 100.0, res.Changes[0].Achieved.CanaryWeight)
	assert.Equal(t, 0.0, res.Changes[1].Achieved.CanaryWeight, "switched back to blue")
	// The count is every non-GET request of the provider's client in that window:
	// the one Service write, plus at most a Lease renewal or an Event that happens
	// to land in it. provider/kubernetes' own tests pin the write to exactly one.
	assert.Contains(t, []int64{1, 2}, res.Changes[1].Writes, "the switch-back is one write")
	assert.Positive(t, res.RollbackLatency)
	d, err := e.Clientset().AppsV1().Deployments(ns).Get(ctx, "order-management", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "registry.example/order-management:v3.1.0", d.Spec.Template.Spec.Containers[0].Image, "blue untouched")
	assert.Equal(t, int32(10), d.Status.ReadyReplicas)
}

func TestOrderManagementFailedMigration(t *testing.T) {
	e := env.Require(t)
	ns := e.NewNamespace(t)
	ctx := context.Background()
	c := cfg(ns)
	c.MigrationLabels = map[string]string{shared.FailLabel: "fail"}
	var out bytes.Buffer
	res, err := run(ctx, e.Config(), c, &out)
	t.Log("\n" + out.String())
	require.NoError(t, err)
	require.Equal(t, rollout.PhaseRolledBack, res.State.Phase)
	assert.Contains(t, res.State.Rollback.Reason, "relation already exists")
	assert.Empty(t, res.Changes, "no traffic moved")
	_, err = e.Clientset().AppsV1().Deployments(ns).Get(ctx, "order-management-canary", metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "green never existed")
}
