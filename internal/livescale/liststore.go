package livescale

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	k8s "github.com/agentops/progressive/provider/kubernetes"
	"github.com/agentops/progressive/rollout"
)

// listedStore is a rollout.StateStore whose List comes from an informer on
// the namespace's state ConfigMaps, each decoded once per resourceVersion;
// Get, Create, Update and Delete go to the wrapped store.
//
// kubernetes.Store.List now reads the provider's informer as well; this
// wrapper predates it and stays for onAdd, which tells a replica's Manager of
// a new rollout at once.
//
// Why: kubernetes.Store.List was one LIST of every state, and Runner.Start
// lists twice (checkFree, before and under startMu), so starting N rollouts
// transferred and decoded O(N²) states: at N=1,000 (a few KiB of JSON each)
// starting took about ten minutes, and the first rollouts' deploy steps had
// passed their ready timeout before a replica took them. A Manager's resync
// lists the whole store too. A controller of many rollouts lists from an
// informer; this harness does the same, in the parent (Start) and in every
// replica (the Manager's resync). What Start checks is unchanged: the same
// states, as recent as the watch (and read-your-writes for the states this
// process created).
type listedStore struct {
	rollout.StateStore
	informer cache.SharedIndexInformer

	mu      sync.Mutex
	decoded map[string]decodedState  // by ConfigMap name
	created map[string]rollout.State // created here, until the informer shows them
	onAdd   func(rollout.State)
}

type decodedState struct {
	rv string
	st rollout.State
	ok bool
}

// newListedStore wraps store, the states of ns; onAdd (optional) is called
// when the informer shows a new state. Call start before List.
func newListedStore(store rollout.StateStore, cs kubernetes.Interface, ns string, onAdd func(rollout.State)) *listedStore {
	sel := labels.Set{k8s.ManagedByLabel: k8s.DefaultFieldManager, k8s.ComponentLabel: "rollout-state"}.String()
	f := informers.NewSharedInformerFactoryWithOptions(cs, 0, informers.WithNamespace(ns),
		informers.WithTransform(func(obj any) (any, error) {
			if o, ok := obj.(metav1.Object); ok {
				o.SetManagedFields(nil)
			}
			return obj, nil
		}),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = sel }))
	s := &listedStore{StateStore: store, informer: f.Core().V1().ConfigMaps().Informer(),
		decoded: map[string]decodedState{}, created: map[string]rollout.State{}, onAdd: onAdd}
	_, _ = s.informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			cm, ok := obj.(*corev1.ConfigMap)
			if !ok || s.onAdd == nil {
				return
			}
			if st, ok := s.decode(cm); ok {
				s.onAdd(st)
			}
		},
		// A change is decoded again at the next List (by resourceVersion
		// too, but a fake clientset keeps it).
		UpdateFunc: func(_, obj any) { s.forget(obj) },
		DeleteFunc: func(obj any) { s.forget(obj) },
	})
	return s
}

// start runs the informer until ctx ends and waits for its first List.
func (s *listedStore) start(ctx context.Context) error {
	go s.informer.RunWithContext(ctx)
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if !cache.WaitForCacheSync(wctx.Done(), s.informer.HasSynced) {
		return fmt.Errorf("livescale: state ConfigMap informer not synced: %w", wctx.Err())
	}
	return nil
}

// decode returns cm's state, decoding it only when its resourceVersion
// changed.
func (s *listedStore) decode(cm *corev1.ConfigMap) (rollout.State, bool) {
	s.mu.Lock()
	d, hit := s.decoded[cm.Name]
	s.mu.Unlock()
	if hit && d.rv == cm.ResourceVersion {
		return d.st, d.ok
	}
	st, err := decodeState(cm)
	d = decodedState{rv: cm.ResourceVersion, st: st, ok: err == nil}
	s.mu.Lock()
	s.decoded[cm.Name] = d
	s.mu.Unlock()
	return d.st, d.ok
}

func (s *listedStore) forget(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	if cm, ok := obj.(*corev1.ConfigMap); ok {
		s.mu.Lock()
		delete(s.decoded, cm.Name)
		s.mu.Unlock()
	}
}

// decodeState reads a state ConfigMap as kubernetes.Store writes it: JSON, or
// gzipped JSON when large.
func decodeState(cm *corev1.ConfigMap) (rollout.State, error) {
	var raw []byte
	switch {
	case cm.Data[k8s.StateKey] != "":
		raw = []byte(cm.Data[k8s.StateKey])
	case len(cm.BinaryData[k8s.StateGzipKey]) > 0:
		zr, err := gzip.NewReader(bytes.NewReader(cm.BinaryData[k8s.StateGzipKey]))
		if err != nil {
			return rollout.State{}, err
		}
		if raw, err = io.ReadAll(zr); err != nil {
			return rollout.State{}, err
		}
	default:
		return rollout.State{}, fmt.Errorf("ConfigMap %s holds no state", cm.Name)
	}
	var st rollout.State
	err := json.Unmarshal(raw, &st)
	return st, err
}

// Create implements rollout.StateStore, remembering the state until the
// informer shows it.
func (s *listedStore) Create(ctx context.Context, st rollout.State) (rollout.State, error) {
	out, err := s.StateStore.Create(ctx, st)
	if err == nil {
		s.mu.Lock()
		s.created[out.ID] = out
		s.mu.Unlock()
	}
	return out, err
}

// List implements rollout.StateStore from the informer's cache.
func (s *listedStore) List(context.Context) ([]rollout.State, error) {
	objs := s.informer.GetStore().List()
	out := make([]rollout.State, 0, len(objs))
	seen := make(map[string]bool, len(objs))
	for _, obj := range objs {
		cm, ok := obj.(*corev1.ConfigMap)
		if !ok {
			continue
		}
		if st, ok := s.decode(cm); ok {
			out = append(out, st)
			seen[st.ID] = true
		}
	}
	s.mu.Lock()
	for id, st := range s.created {
		if seen[id] {
			delete(s.created, id)
			continue
		}
		out = append(out, st)
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// GetFresh forwards the wrapped store's rollout.FreshReader (a plain Get
// without one).
func (s *listedStore) GetFresh(ctx context.Context, id string) (rollout.State, error) {
	if fr, ok := s.StateStore.(rollout.FreshReader); ok {
		return fr.GetFresh(ctx, id)
	}
	return s.StateStore.Get(ctx, id)
}

// subjectClaimer is rollout's optional SubjectClaimer, declared here by its
// methods so that the wrapper forwards it when the wrapped store has it.
type subjectClaimer interface {
	ClaimSubjects(ctx context.Context, id string, subjects []string) error
	ReleaseSubjects(ctx context.Context, id string, subjects []string) error
}

// claimingListedStore is a listedStore over a store that claims subjects.
type claimingListedStore struct {
	*listedStore
	c subjectClaimer
}

func (s claimingListedStore) ClaimSubjects(ctx context.Context, id string, subjects []string) error {
	return s.c.ClaimSubjects(ctx, id, subjects)
}

func (s claimingListedStore) ReleaseSubjects(ctx context.Context, id string, subjects []string) error {
	return s.c.ReleaseSubjects(ctx, id, subjects)
}

// asStore returns s as the StateStore a Runner should use: with the wrapped
// store's optional subject claims, if it has them.
func (s *listedStore) asStore() rollout.StateStore {
	if c, ok := s.StateStore.(subjectClaimer); ok {
		return claimingListedStore{listedStore: s, c: c}
	}
	return s
}
