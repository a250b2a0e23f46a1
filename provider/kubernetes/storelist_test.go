package kubernetes_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	k8s "github.com/agentops/progressive/provider/kubernetes"
	"github.com/agentops/progressive/rollout"
)

// listed returns the ids and versions a List shows.
func listed(t *testing.T, s *k8s.Store) map[string]int64 {
	t.Helper()
	states, err := s.List(context.Background())
	require.NoError(t, err)
	out := map[string]int64{}
	for _, st := range states {
		out[st.ID] = st.Version
	}
	return out
}

// TestStoreListFromInformer: List reads the ConfigMap informer and makes no
// request, shows this Provider's own Create, Update and Delete at once
// (whatever the informer has seen), and another process's writes once the
// watch brings them. Under a Role without watch on configmaps it is one LIST.
func TestStoreListFromInformer(t *testing.T) {
	e := env.Require(t)
	ns := e.NewNamespace(t)
	ctx := context.Background()
	p := newProvider(t, e.Config(), fastOptions())
	s, err := p.Store(ns)
	require.NoError(t, err)
	elsewhere, err := newProvider(t, e.Config(), fastOptions()).Store(ns)
	require.NoError(t, err)

	a, err := s.Create(ctx, rollout.State{ID: "list-a", Phase: rollout.PhaseProgressing})
	require.NoError(t, err)
	b, err := s.Create(ctx, rollout.State{ID: "list-b", Phase: rollout.PhaseProgressing})
	require.NoError(t, err)
	before := p.Stats()
	require.Equal(t, map[string]int64{"list-a": 1, "list-b": 1}, listed(t, s), "right after Create")

	for range 5 {
		a, err = s.Update(ctx, a)
		require.NoError(t, err)
		require.Equal(t, a.Version, listed(t, s)["list-a"], "right after Update")
	}
	require.NoError(t, s.Delete(ctx, b.ID))
	assert.NotContains(t, listed(t, s), "list-b", "right after Delete")
	assert.Equal(t, k8s.Stats{Writes: 6}, since(p, before), "the writes only: no List request")

	c, err := elsewhere.Create(ctx, rollout.State{ID: "list-c", Phase: rollout.PhaseProgressing})
	require.NoError(t, err)
	eventually(t, 10*time.Second, func() error {
		if got := listed(t, s)["list-c"]; got != c.Version {
			return errorf("another process's state at version %d, want %d", got, c.Version)
		}
		return nil
	})
	assert.Equal(t, map[string]int64{"list-a": a.Version, "list-c": 1}, listed(t, s))

	cs := e.Clientset()
	scoped := newProvider(t, serviceAccountConfigWith(t, e.Config(), cs, ns, withoutWatch("configmaps")), fastOptions())
	ss, err := scoped.Store(ns)
	require.NoError(t, err)
	_, err = ss.Get(ctx, a.ID)
	require.NoError(t, err)
	eventually(t, 10*time.Second, func() error {
		if !k8s.StoreCacheOff(scoped, ns) {
			return errorf("the ConfigMap informer still runs")
		}
		return nil
	})
	before = scoped.Stats()
	assert.Equal(t, map[string]int64{"list-a": a.Version, "list-c": 1}, listed(t, ss))
	assert.Equal(t, k8s.Stats{Reads: 1}, since(scoped, before), "without the informer, one LIST")
}
