package sim_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/provider/sim"
)

var (
	v1 = sim.ServiceSpec{Replicas: 4, Version: "v1", Image: "shop/checkout:1"}
	r2 = progressive.Release{Version: "v2", Image: "shop/checkout:2"}
	r3 = progressive.Release{Version: "v3", Image: "shop/checkout:3"}
)

func TestWorkloadAddServiceAndStatus(t *testing.T) {
	env, _ := newEnv(t, sim.Options{ReadyDelay: time.Minute})
	w := env.Workload
	assert.Equal(t, "sim", w.Name())
	require.NoError(t, w.AddService(checkout, v1))
	st, err := w.Status(ctx(t), checkout)
	require.NoError(t, err)
	assert.Equal(t, progressive.WorkloadStatus{
		Stable: progressive.VersionStatus{Version: "v1", Replicas: 4, Ready: 4, Updated: 4},
	}, st, "a registered service is running and ready before the test begins")
	rs, err := w.RollStatus(ctx(t), checkout)
	require.NoError(t, err)
	assert.Equal(t, progressive.RollStatus{Desired: 4, Updated: 4, UpdatedReady: 4, Revision: 1}, rs)
}

func TestWorkloadBadInput(t *testing.T) {
	env, _ := newEnv(t, sim.Options{})
	w := env.Workload
	assert.ErrorIs(t, w.AddService(checkout, sim.ServiceSpec{Replicas: -1, Version: "v1"}), progressive.ErrInvalid)
	assert.ErrorIs(t, w.AddService(checkout, sim.ServiceSpec{Replicas: 1}), progressive.ErrInvalid)
	assert.ErrorIs(t, w.AddService(progressive.Target{Name: "UPPER"}, v1), progressive.ErrInvalid)

	require.NoError(t, w.AddService(checkout, v1))
	assert.ErrorIs(t, w.DeployCanary(ctx(t), checkout, r2, -1), progressive.ErrInvalid)
	assert.ErrorIs(t, w.DeployCanary(ctx(t), checkout, progressive.Release{Image: "x"}, 1), progressive.ErrInvalid)
	assert.ErrorIs(t, w.ScaleCanary(ctx(t), checkout, 2), progressive.ErrNotFound, "no canary yet")
	assert.ErrorIs(t, w.Promote(ctx(t), checkout), progressive.ErrNotFound, "no canary to promote")
	require.NoError(t, w.DeployCanary(ctx(t), checkout, r2, 1))
	assert.ErrorIs(t, w.ScaleCanary(ctx(t), checkout, -3), progressive.ErrInvalid)

	assert.ErrorIs(t, w.RollTo(ctx(t), checkout, r2, 5, progressive.RollingParams{}), progressive.ErrInvalid, "more than the replicas")
	assert.ErrorIs(t, w.RollTo(ctx(t), checkout, r2, -1, progressive.RollingParams{}), progressive.ErrInvalid)
	assert.ErrorIs(t, w.RollTo(ctx(t), checkout, r2, 1, progressive.RollingParams{MaxSurge: -1}), progressive.ErrInvalid)
	assert.ErrorIs(t, w.Undo(ctx(t), checkout, -2), progressive.ErrInvalid)
}

func TestWorkloadUnknownTarget(t *testing.T) {
	env, _ := newEnv(t, sim.Options{})
	w := env.Workload
	c := ctx(t)
	errs := map[string]error{
		"DeployCanary":   w.DeployCanary(c, unknown, r2, 1),
		"ScaleCanary":    w.ScaleCanary(c, unknown, 1),
		"Promote":        w.Promote(c, unknown),
		"RollbackCanary": w.RollbackCanary(c, unknown),
		"RollTo":         w.RollTo(c, unknown, r2, 1, progressive.RollingParams{}),
		"Undo":           w.Undo(c, unknown, 0),
	}
	_, errs["Status"] = w.Status(c, unknown)
	_, errs["RollStatus"] = w.RollStatus(c, unknown)
	_, errs["Revisions"] = w.Revisions(unknown)
	for name, err := range errs {
		assert.ErrorIs(t, err, progressive.ErrNotFound, name)
		assert.ErrorContains(t, err, "shop/nobody", name)
	}
}

func TestWorkloadReadyOnNextReadByDefault(t *testing.T) {
	env, _ := newEnv(t, sim.Options{})
	require.NoError(t, env.Workload.AddService(checkout, v1))
	require.NoError(t, env.Workload.DeployCanary(ctx(t), checkout, r2, 2))
	st, err := env.Workload.Status(ctx(t), checkout)
	require.NoError(t, err)
	assert.Equal(t, progressive.VersionStatus{Version: "v2", Replicas: 2, Ready: 2, Updated: 2}, st.Canary)
}

func TestWorkloadCanaryLifecycle(t *testing.T) {
	env, fc := newEnv(t, sim.Options{ReadyDelay: 30 * time.Second})
	w := env.Workload
	require.NoError(t, w.AddService(checkout, v1))
	status := func() progressive.WorkloadStatus {
		t.Helper()
		st, err := w.Status(ctx(t), checkout)
		require.NoError(t, err)
		return st
	}

	require.NoError(t, w.DeployCanary(ctx(t), checkout, r2, 2))
	assert.Equal(t, 0, status().Canary.Ready)
	fc.Step(29 * time.Second)
	assert.Equal(t, 0, status().Canary.Ready, "not before the ready delay")
	fc.Step(time.Second)
	assert.Equal(t, progressive.VersionStatus{Version: "v2", Replicas: 2, Ready: 2, Updated: 2}, status().Canary)

	require.NoError(t, w.ScaleCanary(ctx(t), checkout, 4))
	assert.Equal(t, 2, status().Canary.Ready, "new pods take the ready delay")
	fc.Step(30 * time.Second)
	assert.Equal(t, 4, status().Canary.Ready)
	require.NoError(t, w.DeployCanary(ctx(t), checkout, r2, 4), "redeploying the same release changes nothing")
	assert.Equal(t, 4, status().Canary.Ready)

	require.NoError(t, w.Promote(ctx(t), checkout))
	st := status()
	assert.Equal(t, progressive.VersionStatus{Version: "v2", Replicas: 4, Ready: 0, Updated: 4}, st.Stable)
	assert.Equal(t, 4, st.Canary.Ready, "promotion leaves the canary alone")
	fc.Step(30 * time.Second)
	assert.Equal(t, 4, status().Stable.Ready, "stable is ready after the ready delay")

	require.NoError(t, w.RollbackCanary(ctx(t), checkout))
	assert.Equal(t, progressive.VersionStatus{Version: "v2"}, status().Canary)
	assert.Equal(t, progressive.VersionStatus{Version: "v2", Replicas: 4, Ready: 4, Updated: 4}, status().Stable)
	require.NoError(t, w.RollbackCanary(ctx(t), checkout), "rollback is idempotent")

	revs, err := w.Revisions(checkout)
	require.NoError(t, err)
	assert.Equal(t, []sim.Revision{
		{Number: 1, Release: progressive.Release{Version: "v1", Image: "shop/checkout:1"}},
		{Number: 2, Release: progressive.Release{Version: "v2", Image: "shop/checkout:2"}},
	}, revs, "promotion is a new revision")
}

func TestWorkloadRollbackCanaryLeavesStable(t *testing.T) {
	env, _ := newEnv(t, sim.Options{})
	w := env.Workload
	require.NoError(t, w.AddService(checkout, v1))
	require.NoError(t, w.RollbackCanary(ctx(t), checkout), "nothing to roll back is fine")
	require.NoError(t, w.DeployCanary(ctx(t), checkout, progressive.Release{Version: "v2"}, 3))
	st, _ := w.Status(ctx(t), checkout)
	assert.Equal(t, "v2", st.Canary.Version)
	require.NoError(t, w.RollbackCanary(ctx(t), checkout))
	st, _ = w.Status(ctx(t), checkout)
	assert.Zero(t, st.Canary.Replicas)
	assert.Equal(t, progressive.VersionStatus{Version: "v1", Replicas: 4, Ready: 4, Updated: 4}, st.Stable)
	require.NoError(t, w.ScaleCanary(ctx(t), checkout, 1), "a rolled-back canary can be scaled again")
}

func TestWorkloadNeverReadyImage(t *testing.T) {
	env, fc := newEnv(t, sim.Options{})
	w := env.Workload
	require.NoError(t, w.AddService(checkout, v1))
	w.NeverReady("shop/checkout:2")
	require.NoError(t, w.DeployCanary(ctx(t), checkout, r2, 3))
	fc.Step(9 * time.Minute)
	st, err := w.Status(ctx(t), checkout)
	require.NoError(t, err)
	assert.Equal(t, 0, st.Canary.Ready)
	assert.False(t, st.ProgressDeadlineExceeded)
	fc.Step(2 * time.Minute)
	st, _ = w.Status(ctx(t), checkout)
	assert.Equal(t, 0, st.Canary.Ready)
	assert.True(t, st.ProgressDeadlineExceeded, "10 minutes without progress")
	assert.Equal(t, 4, st.Stable.Ready, "stable is untouched")

	require.NoError(t, w.DeployCanary(ctx(t), checkout, r3, 3), "a fixed release replaces the broken pods")
	st, _ = w.Status(ctx(t), checkout)
	assert.Equal(t, 3, st.Canary.Ready)
	assert.False(t, st.ProgressDeadlineExceeded)

	w.NeverReady("v9")
	require.NoError(t, w.DeployCanary(ctx(t), checkout, progressive.Release{Version: "v9", Image: ""}, 1))
	st, _ = w.Status(ctx(t), checkout)
	assert.Equal(t, 1, st.Canary.Ready, "an empty image keeps the stable image, which is fine")
}

func TestRollerRollTo(t *testing.T) {
	env, fc := newEnv(t, sim.Options{ReadyDelay: 10 * time.Second})
	w := env.Workload
	require.NoError(t, w.AddService(checkout, sim.ServiceSpec{Replicas: 10, Version: "v1", Image: "img:1"}))
	params := progressive.RollingParams{MaxSurge: 1, MaxUnavailable: 0}
	roll := func(updated int) progressive.RollStatus {
		t.Helper()
		require.NoError(t, w.RollTo(ctx(t), checkout, r2, updated, params))
		rs, err := w.RollStatus(ctx(t), checkout)
		require.NoError(t, err)
		return rs
	}
	assert.Equal(t, progressive.RollStatus{Desired: 10, Updated: 3, UpdatedReady: 0, Unready: 3, Revision: 2}, roll(3))
	fc.Step(10 * time.Second)
	assert.Equal(t, progressive.RollStatus{Desired: 10, Updated: 3, UpdatedReady: 3, Unready: 0, Revision: 2}, roll(3),
		"rolling to the same count again changes nothing")
	assert.Equal(t, progressive.RollStatus{Desired: 10, Updated: 6, UpdatedReady: 3, Unready: 3, Revision: 2}, roll(6))
	assert.Equal(t, 6, roll(2).Updated, "RollTo never takes pods back")
	fc.Step(10 * time.Second)
	assert.Equal(t, progressive.RollStatus{Desired: 10, Updated: 10, UpdatedReady: 6, Unready: 4, Revision: 2}, roll(10))

	st, err := w.Status(ctx(t), checkout)
	require.NoError(t, err)
	assert.Equal(t, progressive.VersionStatus{Version: "v2", Replicas: 10, Ready: 6, Updated: 10}, st.Stable)
}

func TestRollerUnreadyImage(t *testing.T) {
	env, _ := newEnv(t, sim.Options{})
	w := env.Workload
	require.NoError(t, w.AddService(checkout, sim.ServiceSpec{Replicas: 20, Version: "v1", Image: "img:1"}))
	w.NeverReady("img:bad")
	require.NoError(t, w.RollTo(ctx(t), checkout, progressive.Release{Version: "v2", Image: "img:bad"}, 2, progressive.RollingParams{}))
	rs, err := w.RollStatus(ctx(t), checkout)
	require.NoError(t, err)
	assert.Equal(t, progressive.RollStatus{Desired: 20, Updated: 2, UpdatedReady: 0, Unready: 2, Revision: 2}, rs)
	assert.Greater(t, float64(rs.Unready)/float64(rs.Desired)*100, 5.0, "more than 5% fail readiness")

	require.NoError(t, w.Undo(ctx(t), checkout, 0))
	rs, _ = w.RollStatus(ctx(t), checkout)
	assert.Equal(t, progressive.RollStatus{Desired: 20, Updated: 20, UpdatedReady: 20, Unready: 0, Revision: 3}, rs)
}

func TestRollerUndoRevisions(t *testing.T) {
	env, _ := newEnv(t, sim.Options{})
	w := env.Workload
	require.NoError(t, w.AddService(checkout, v1))
	require.ErrorIs(t, w.Undo(ctx(t), checkout, 0), progressive.ErrNotFound, "no previous revision yet")

	for _, r := range []progressive.Release{r2, r3} {
		require.NoError(t, w.RollTo(ctx(t), checkout, r, 4, progressive.RollingParams{}))
	}
	current := func() (int64, string) {
		t.Helper()
		rs, err := w.RollStatus(ctx(t), checkout)
		require.NoError(t, err)
		st, err := w.Status(ctx(t), checkout)
		require.NoError(t, err)
		assert.Equal(t, st.Stable.Replicas, st.Stable.Updated, "undo replaces every pod")
		return rs.Revision, st.Stable.Version
	}
	rev, version := current()
	assert.Equal(t, int64(3), rev)
	assert.Equal(t, "v3", version)

	require.NoError(t, w.Undo(ctx(t), checkout, 0))
	rev, version = current()
	assert.Equal(t, int64(4), rev, "undo is a new revision, like kubectl rollout undo")
	assert.Equal(t, "v2", version)

	require.NoError(t, w.Undo(ctx(t), checkout, 1))
	rev, version = current()
	assert.Equal(t, int64(5), rev)
	assert.Equal(t, "v1", version)

	revs, err := w.Revisions(checkout)
	require.NoError(t, err)
	var numbers []int64
	var versions []string
	for _, r := range revs {
		numbers = append(numbers, r.Number)
		versions = append(versions, r.Release.Version)
	}
	assert.Equal(t, []int64{3, 4, 5}, numbers, "a template brought back leaves its old number")
	assert.Equal(t, []string{"v3", "v2", "v1"}, versions)

	err = w.Undo(ctx(t), checkout, 2)
	require.ErrorIs(t, err, progressive.ErrNotFound, "revision 2 became 4")
	assert.ErrorContains(t, err, "revision 2")
	require.ErrorIs(t, w.Undo(ctx(t), checkout, 99), progressive.ErrNotFound)

	require.NoError(t, w.Undo(ctx(t), checkout, 5), "undo to the current revision changes nothing")
	rev, _ = current()
	assert.Equal(t, int64(5), rev)

	require.NoError(t, w.Undo(ctx(t), checkout, 3))
	rev, version = current()
	assert.Equal(t, int64(6), rev)
	assert.Equal(t, "v3", version)
}

func TestRollerRollWithoutImageKeepsStableImage(t *testing.T) {
	env, _ := newEnv(t, sim.Options{})
	w := env.Workload
	require.NoError(t, w.AddService(checkout, v1))
	require.NoError(t, w.RollTo(ctx(t), checkout, progressive.Release{Version: "v1.1"}, 4, progressive.RollingParams{}))
	revs, err := w.Revisions(checkout)
	require.NoError(t, err)
	assert.Equal(t, progressive.Release{Version: "v1.1", Image: "shop/checkout:1"}, revs[len(revs)-1].Release)
}
