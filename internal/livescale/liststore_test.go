package livescale

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/agentops/progressive"
	k8s "github.com/agentops/progressive/provider/kubernetes"
	"github.com/agentops/progressive/rollout"
)

// listedStore serves List from its informer: a state created through it is
// listed at once (read-your-writes, the informer may not show it yet), one
// created by another process once the informer shows it (and onAdd is told),
// an update is listed as updated, and no List reaches the API server, which
// is the point: Runner.Start lists twice, and N Starts of a LIST each moved
// O(N²) states.
func TestListedStore(t *testing.T) {
	cs := fake.NewClientset()
	var lists atomic.Int64
	cs.PrependReactor("list", "configmaps", func(k8stesting.Action) (bool, runtime.Object, error) {
		lists.Add(1)
		return false, nil, nil
	})
	p := k8s.NewForClientset(cs, k8s.Options{})
	defer p.Close()
	kstore, err := p.Store("shop")
	require.NoError(t, err)
	var added atomic.Int64
	ls := newListedStore(kstore, cs, "shop", func(rollout.State) { added.Add(1) })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	require.NoError(t, ls.start(ctx))
	store := ls.asStore()

	state := func(id string) rollout.State {
		return rollout.State{ID: id, Phase: rollout.PhaseProgressing,
			Plan: progressive.Plan{Name: id, Target: progressive.Target{Namespace: "shop", Name: id}}}
	}
	_, err = store.Create(ctx, state("mine"))
	require.NoError(t, err)
	got, err := store.List(ctx)
	require.NoError(t, err)
	require.Len(t, got, 1, "what this process created is listed at once")
	assert.Equal(t, "mine", got[0].ID)

	// Another process' state: through the provider's store, not the wrapper.
	other, err := kstore.Create(ctx, state("theirs"))
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		got, _ := store.List(ctx)
		return len(got) == 2 && got[1].ID == "theirs"
	}, 10*time.Second, 20*time.Millisecond, "the informer shows another process' state")

	other.Phase = rollout.PhaseSucceeded
	_, err = kstore.Update(ctx, other)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		got, _ := store.List(ctx)
		return len(got) == 2 && got[1].Phase == rollout.PhaseSucceeded
	}, 10*time.Second, 20*time.Millisecond, "an update is listed decoded anew")
	assert.Equal(t, int64(2), added.Load(), "onAdd told of both states")
	// The informers' own Lists (this one's and the provider store's): none
	// for the store.List calls above.
	assert.LessOrEqual(t, lists.Load(), int64(2), "List served from the informer")
}
