package kubernetes_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/agentops/progressive"
	k8s "github.com/agentops/progressive/provider/kubernetes"
)

// TestRollToAndUndo: batches of an in-place rolling update pause the Deployment
// in between; Undo goes back to the previous revision or to a given one, as kubectl
// rollout undo [--to-revision] does.
func TestRollToAndUndo(t *testing.T) {
	e := env.Require(t)
	ns := e.NewNamespace(t)
	ctx := context.Background()
	cs := e.Clientset()
	seed(t, cs, ns, "content", 10, "registry.example/content:v1")
	w := newProvider(t, e.Config(), fastOptions()).Workload()
	tg := target(ns, "content")
	st, err := w.RollStatus(ctx, tg)
	require.NoError(t, err)
	assert.Equal(t, progressive.RollStatus{Desired: 10, Updated: 10, UpdatedReady: 10, Revision: 1}, st)

	v2 := progressive.Release{Version: "v2", Image: "registry.example/content:v2"}
	params := progressive.RollingParams{MaxSurge: 3, MaxUnavailable: 0}
	require.NoError(t, w.RollTo(ctx, tg, v2, 3, params))
	d, err := cs.AppsV1().Deployments(ns).Get(ctx, "content", metav1.GetOptions{})
	require.NoError(t, err)
	assert.True(t, d.Spec.Paused, "paused between batches")
	assert.Equal(t, "registry.example/content:v2", d.Spec.Template.Spec.Containers[0].Image)
	assert.Equal(t, "3", d.Spec.Strategy.RollingUpdate.MaxSurge.String())
	assert.Contains(t, d.Annotations, k8s.PreviousStrategyAnnotation)
	eventually(t, testTimeout, func() error {
		st, err = w.RollStatus(ctx, tg)
		if err != nil {
			return err
		}
		if st.UpdatedReady < 3 || st.Unready > 0 {
			return errorf("%+v", st)
		}
		return nil
	})
	assert.Equal(t, int64(2), st.Revision)
	assert.Less(t, st.Updated, 10, "the batch stopped short of the whole Deployment")
	t.Logf("after RollTo(3): %+v", st)

	require.NoError(t, w.RollTo(ctx, tg, v2, 6, params))
	require.NoError(t, w.RollTo(ctx, tg, v2, 10, params))
	waitRolledOut(t, cs, ns, "content")
	st, err = w.RollStatus(ctx, tg)
	require.NoError(t, err)
	assert.Equal(t, progressive.RollStatus{Desired: 10, Updated: 10, UpdatedReady: 10, Revision: 2}, st)

	// Undo to the previous revision: v1 again, as revision 3, with the strategy
	// the Deployment had before.
	require.NoError(t, w.Undo(ctx, tg, 0))
	d = waitRolledOut(t, cs, ns, "content")
	assert.Equal(t, "registry.example/content:v1", d.Spec.Template.Spec.Containers[0].Image)
	assert.NotContains(t, d.Annotations, k8s.PreviousStrategyAnnotation)
	assert.Equal(t, "25%", d.Spec.Strategy.RollingUpdate.MaxSurge.String())
	st, err = w.RollStatus(ctx, tg)
	require.NoError(t, err)
	assert.Equal(t, int64(3), st.Revision)
	// The rollback that asked for revision 1 may ask again (its answer lost,
	// its state not saved): revision 1 is revision 3 now, and nothing changes.
	require.NoError(t, w.Undo(ctx, tg, 1), "a repeated undo")
	st, err = w.RollStatus(ctx, tg)
	require.NoError(t, err)
	assert.Equal(t, int64(3), st.Revision)

	// --to-revision 2: v2 again; an unknown revision is not found.
	require.NoError(t, w.Undo(ctx, tg, 2))
	d = waitRolledOut(t, cs, ns, "content")
	assert.Equal(t, "registry.example/content:v2", d.Spec.Template.Spec.Containers[0].Image)
	err = w.Undo(ctx, tg, 99)
	require.ErrorIs(t, err, progressive.ErrNotFound)
	assert.Contains(t, err.Error(), "revision 99 is not in the ReplicaSet history (revisions: 3, 4)")
}
