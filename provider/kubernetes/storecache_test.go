package kubernetes_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/agentops/progressive"
	k8s "github.com/agentops/progressive/provider/kubernetes"
	"github.com/agentops/progressive/rollout"
)

func since(p *k8s.Provider, before k8s.Stats) k8s.Stats {
	now := p.Stats()
	return k8s.Stats{Reads: now.Reads - before.Reads, Writes: now.Writes - before.Writes}
}

// TestStoreGetFromInformer: once the namespace's ConfigMap informer has listed,
// a Get makes no request, and a Get after an Update returns that Update's
// version at once (read-your-writes), whatever the informer has seen.
func TestStoreGetFromInformer(t *testing.T) {
	e := env.Require(t)
	ns := e.NewNamespace(t)
	ctx := context.Background()
	p := newProvider(t, e.Config(), fastOptions())
	s, err := p.Store(ns)
	require.NoError(t, err)
	other, err := p.Store(ns)
	require.NoError(t, err)
	const id = "pay/v2"
	st, err := s.Create(ctx, rollout.State{ID: id, Phase: rollout.PhaseProgressing, Plan: progressive.Plan{Name: id, Target: target(ns, "pay")}})
	require.NoError(t, err)

	_, err = s.Get(ctx, id)
	require.NoError(t, err)
	eventually(t, 10*time.Second, func() error {
		if k8s.StoreCacheRV(p, ns, k8s.ConfigMapName(id)) == "" {
			return errorf("the informer has not shown the ConfigMap")
		}
		return nil
	})
	before := p.Stats()
	for range 5 {
		got, err := s.Get(ctx, id)
		require.NoError(t, err)
		assert.Equal(t, st.Version, got.Version)
	}
	assert.Equal(t, k8s.Stats{}, since(p, before), "steady-state Gets: no request")

	// Update then Get, at once, many times: never the previous version, and
	// each round is one write.
	for i := range 20 {
		st.Step.Index = i
		before := p.Stats()
		st, err = s.Update(ctx, st)
		require.NoError(t, err)
		for _, store := range []*k8s.Store{s, other} {
			got, err := store.Get(ctx, id)
			require.NoError(t, err)
			require.Equal(t, st.Version, got.Version, "Get right after Update %d", i)
			require.Equal(t, i, got.Step.Index)
		}
		require.Equal(t, k8s.Stats{Writes: 1}, since(p, before), "an Update and two Gets: one write")
	}

	// A missing state is a GET (the cache does not know everything).
	before = p.Stats()
	_, err = s.Get(ctx, "missing")
	require.ErrorIs(t, err, progressive.ErrNotFound)
	assert.Equal(t, k8s.Stats{Reads: 1}, since(p, before))
}

// TestStoreStaleCache: a Get from an informer behind someone else's write
// costs the next Update a conflict (progressive.ErrConflict), after which the
// next Get is fresh without waiting for the informer; when only the
// resourceVersion moved (a metadata edit), Update retries once by itself.
func TestStoreStaleCache(t *testing.T) {
	e := env.Require(t)
	ns := e.NewNamespace(t)
	ctx := context.Background()
	p := newProvider(t, e.Config(), fastOptions())
	s, err := p.Store(ns)
	require.NoError(t, err)
	elsewhere, err := newProvider(t, e.Config(), fastOptions()).Store(ns)
	require.NoError(t, err)
	const id = "cart/v2"
	name := k8s.ConfigMapName(id)
	cms := e.Clientset().CoreV1().ConfigMaps(ns)
	_, err = s.Create(ctx, rollout.State{ID: id, Phase: rollout.PhaseProgressing})
	require.NoError(t, err)
	caughtUp := func(rv string) {
		eventually(t, 10*time.Second, func() error {
			if got := k8s.StoreCacheRV(p, ns, name); got != rv {
				return errorf("informer at %q, want %q", got, rv)
			}
			return nil
		})
	}

	// Another process writes version 2; our informer is made to lag at 1.
	v1, err := cms.Get(ctx, name, metav1.GetOptions{})
	require.NoError(t, err)
	theirs, err := elsewhere.Get(ctx, id)
	require.NoError(t, err)
	theirs.Step.Index = 7
	theirs, err = elsewhere.Update(ctx, theirs)
	require.NoError(t, err)
	v2, err := cms.Get(ctx, name, metav1.GetOptions{})
	require.NoError(t, err)
	caughtUp(v2.ResourceVersion)
	require.NoError(t, k8s.InjectStaleConfigMap(p, v1))

	stale, err := s.Get(ctx, id)
	require.NoError(t, err)
	require.Equal(t, int64(1), stale.Version, "the lagging informer's copy")
	stale.Step.Index = 1
	before := p.Stats()
	_, err = s.Update(ctx, stale)
	require.ErrorIs(t, err, progressive.ErrConflict, "version 1 is stale: someone wrote 2")
	assert.Equal(t, k8s.Stats{Reads: 1, Writes: 1}, since(p, before), "the refused write and one direct read")
	before = p.Stats()
	fresh, err := s.Get(ctx, id)
	require.NoError(t, err)
	require.Equal(t, theirs.Version, fresh.Version, "the Get after a conflict is fresh, though the informer still lags")
	require.Equal(t, 7, fresh.Step.Index)
	assert.Equal(t, k8s.Stats{}, since(p, before), "kept from the conflict's read")
	fresh.Step.Index = 8
	fresh, err = s.Update(ctx, fresh)
	require.NoError(t, err)
	require.Equal(t, int64(3), fresh.Version)

	// Someone edits only the metadata; our informer is made to lag before it.
	cur, err := cms.Get(ctx, name, metav1.GetOptions{})
	require.NoError(t, err)
	caughtUp(cur.ResourceVersion)
	edited := cur.DeepCopy()
	edited.Labels["someone"] = "else"
	edited, err = cms.Update(ctx, edited, metav1.UpdateOptions{})
	require.NoError(t, err)
	caughtUp(edited.ResourceVersion)
	require.NoError(t, k8s.InjectStaleConfigMap(p, cur))
	got, err := s.Get(ctx, id)
	require.NoError(t, err)
	require.Equal(t, int64(3), got.Version)
	got.Step.Index = 9
	before = p.Stats()
	got, err = s.Update(ctx, got)
	require.NoError(t, err, "a conflict caused only by the informer's lag is retried")
	assert.Equal(t, int64(4), got.Version)
	assert.Equal(t, k8s.Stats{Reads: 1, Writes: 2}, since(p, before), "refused write, direct read, write")
	back, err := s.Get(ctx, id)
	require.NoError(t, err)
	assert.Equal(t, int64(4), back.Version)
	assert.Equal(t, 9, back.Step.Index)
}

// TestStoreWithoutConfigMapWatch: under a Role without watch on configmaps
// (role.yaml trimmed) the informer stops and every Get is one GET; after
// Provider.Close too.
func TestStoreWithoutConfigMapWatch(t *testing.T) {
	e := env.Require(t)
	ns := e.NewNamespace(t)
	ctx := context.Background()
	cs := e.Clientset()
	scoped := newProvider(t, serviceAccountConfigWith(t, e.Config(), cs, ns, withoutWatch("configmaps")), fastOptions())
	s, err := scoped.Store(ns)
	require.NoError(t, err)
	st, err := s.Create(ctx, rollout.State{ID: "orders/v2", Phase: rollout.PhaseProgressing})
	require.NoError(t, err)
	eventually(t, 10*time.Second, func() error {
		if !k8s.StoreCacheOff(scoped, ns) {
			return errorf("the ConfigMap informer still runs")
		}
		return nil
	})
	for range 3 {
		before := scoped.Stats()
		got, err := s.Get(ctx, st.ID)
		require.NoError(t, err)
		assert.Equal(t, st.Version, got.Version)
		assert.Equal(t, k8s.Stats{Reads: 1}, since(scoped, before))
		got.Step.Index++
		st, err = s.Update(ctx, got)
		require.NoError(t, err)
	}

	opts := fastOptions()
	opts.NoEvents = true
	p, err := k8s.New(e.Config(), opts)
	require.NoError(t, err)
	admin, err := p.Store(ns)
	require.NoError(t, err)
	_, err = admin.Get(ctx, st.ID)
	require.NoError(t, err)
	eventually(t, 10*time.Second, func() error {
		before := p.Stats()
		if _, err := admin.Get(ctx, st.ID); err != nil {
			return err
		}
		if d := since(p, before); d != (k8s.Stats{}) {
			return errorf("Get made %+v", d)
		}
		return nil
	})
	p.Close()
	before := p.Stats()
	got, err := admin.Get(ctx, st.ID)
	require.NoError(t, err)
	assert.Equal(t, st.Version, got.Version)
	assert.Equal(t, k8s.Stats{Reads: 1}, since(p, before), "after Close, a direct GET")
}
