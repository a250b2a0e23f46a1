package kubernetes

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/rollout"
)

// ConfigMap layout of a stored rollout.
const (
	// StateKey holds the state as JSON when it is small enough to read.
	StateKey = "state.json"
	// StateGzipKey (in binaryData) holds the gzipped JSON of larger states.
	StateGzipKey = "state.json.gz"
	// RolloutAnnotation on a state ConfigMap is the rollout id.
	RolloutAnnotation = "progressive.agentops.io/rollout"
	// MaxPlainState is the size up to which a state is stored as plain JSON. A
	// ConfigMap holds at most 1 MiB; gzip shrinks a state with thousands of
	// observations about tenfold.
	MaxPlainState = 256 << 10
)

// Store is a rollout.StateStore keeping each rollout in a ConfigMap of one
// namespace, named progressive-rollout-<id> (sanitised, with a hash when the id is
// not a DNS label). It uses the ConfigMap's resourceVersion as the
// optimistic-concurrency token: Update writes with the resourceVersion it last
// saw for that state Version, so a write by anyone else in between makes the
// apiserver refuse it, and the refusal is progressive.ErrConflict. Each Update is
// one write (plus a read when this Store did not see the previous version).
//
// Get reads from a ConfigMap informer of the namespace (label-selected to the
// state ConfigMaps, shared by the Provider's Stores of that namespace, started
// on the first Get or Update and stopped by Provider.Close): no request once
// it has listed, except a GET for a state it does not hold. Reads are
// read-your-writes: a Store's Get returns at least the version the Provider's
// last Create or Update of that state wrote, however late the informer. A Get
// from a cache behind someone else's write costs the next Update a conflict;
// Update then reads directly, retries once when only the resourceVersion moved
// (the state's Version is the one the caller holds), and otherwise returns
// progressive.ErrConflict with the fresh state kept for the next Get. Without
// list and watch on configmaps (role.yaml grants list only) the informer stops
// and every Get is one GET.
//
// List reads the same informer (one LIST without it). GetFresh
// (rollout.FreshReader) is one GET whose answer the Provider's Stores then
// read: Runner.Run calls it before driving a rollout, so that a process
// taking a rollout over never starts from a state older than the previous
// owner's last write.
//
// It does not implement rollout.ObservationLog: the runner keeps the newest
// rollout.MaxInlineObservations measurements in the state, and states above
// MaxPlainState are stored gzipped so that they fit in a ConfigMap.
type Store struct {
	p         *Provider
	namespace string

	mu   sync.Mutex
	seen map[string]seenVersion
}

type seenVersion struct {
	version         int64
	resourceVersion string
	// cached: read from the informer, which may be behind.
	cached bool
}

var (
	_ rollout.StateStore  = (*Store)(nil)
	_ rollout.FreshReader = (*Store)(nil)
)

// Store returns a StateStore in namespace.
func (p *Provider) Store(namespace string) (*Store, error) {
	if namespace == "" {
		return nil, fmt.Errorf("kubernetes: state store namespace must not be empty: %w", errInvalid)
	}
	if err := (progressive.Target{Name: "store", Namespace: namespace}).Validate(); err != nil {
		// Refused here rather than by the API server at the first write, after
		// Start: a namespace is a DNS-1123 label.
		return nil, fmt.Errorf("kubernetes: state store namespace %q must be a DNS-1123 label: %w", namespace, errInvalid)
	}
	return &Store{p: p, namespace: namespace, seen: map[string]seenVersion{}}, nil
}

// ConfigMapName is the name of the ConfigMap holding rollout id.
func ConfigMapName(id string) string { return dnsName(63, "progressive-rollout", id) }

func (s *Store) remember(id string, v int64, rv string, cached bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seen[id] = seenVersion{v, rv, cached}
}

func (s *Store) recall(id string, v int64) (seenVersion, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sv, ok := s.seen[id]
	if !ok || sv.version != v {
		return seenVersion{}, false
	}
	return sv, true
}

// cache returns the namespace's ConfigMap informer when reads may use it.
func (s *Store) cache(ctx context.Context) *cmCache {
	if c := s.p.stores.get(ctx, s.p, s.namespace); c.usable() {
		return c
	}
	return nil
}

// Get implements rollout.StateStore.
func (s *Store) Get(ctx context.Context, id string) (rollout.State, error) {
	name := ConfigMapName(id)
	var cm *corev1.ConfigMap
	cached := false
	if c := s.cache(ctx); c != nil {
		cm = c.read(s.namespace, name)
		cached = cm != nil
	}
	if cm == nil {
		var err error
		cm, err = s.p.cs.CoreV1().ConfigMaps(s.namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return rollout.State{}, classify(err, "kubernetes store: rollout %q (ConfigMap %s/%s)", id, s.namespace, name)
		}
	}
	st, err := decodeConfigMap(cm)
	if err != nil {
		return rollout.State{}, err
	}
	s.remember(id, st.Version, cm.ResourceVersion, cached)
	return st, nil
}

// GetFresh implements rollout.FreshReader: one GET from the API server (a
// quorum read), whose answer this Provider's Stores then read until the
// informer shows it or a later write. Runner.Run calls it as it starts driving
// a rollout: the informer of a process that takes a rollout over may not show
// the previous owner's last write yet (a Lease watch wakes the waiter tens of
// milliseconds after the release; the ConfigMap watch is another stream).
func (s *Store) GetFresh(ctx context.Context, id string) (rollout.State, error) {
	name := ConfigMapName(id)
	cm, err := s.p.cs.CoreV1().ConfigMaps(s.namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return rollout.State{}, classify(err, "kubernetes store: rollout %q (ConfigMap %s/%s)", id, s.namespace, name)
	}
	st, err := decodeConfigMap(cm)
	if err != nil {
		return rollout.State{}, err
	}
	if c := s.cache(ctx); c != nil {
		c.remember(cm)
	}
	s.remember(id, st.Version, cm.ResourceVersion, false)
	return st, nil
}

// Create implements rollout.StateStore.
func (s *Store) Create(ctx context.Context, st rollout.State) (rollout.State, error) {
	st.Version = 1
	cm, err := s.configMap(st)
	if err != nil {
		return rollout.State{}, err
	}
	out, err := s.p.cs.CoreV1().ConfigMaps(s.namespace).Create(ctx, cm, s.p.createOpts())
	if apierrors.IsAlreadyExists(err) {
		return rollout.State{}, fmt.Errorf("kubernetes store: rollout %q already exists (ConfigMap %s/%s): %w", st.ID, s.namespace, cm.Name, errConflict)
	}
	if err != nil {
		return rollout.State{}, classify(err, "kubernetes store: create rollout %q", st.ID)
	}
	s.remember(st.ID, st.Version, out.ResourceVersion, false)
	if !s.p.opts.DryRun {
		if c := s.cache(ctx); c != nil {
			c.remember(out)
		}
	}
	return st, nil
}

// Update implements rollout.StateStore.
func (s *Store) Update(ctx context.Context, st rollout.State) (rollout.State, error) {
	name := ConfigMapName(st.ID)
	c := s.cache(ctx)
	sv, ok := s.recall(st.ID, st.Version)
	rv := sv.resourceVersion
	if !ok {
		cur, err := s.p.cs.CoreV1().ConfigMaps(s.namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return rollout.State{}, classify(err, "kubernetes store: rollout %q (ConfigMap %s/%s)", st.ID, s.namespace, name)
		}
		stored, err := decodeConfigMap(cur)
		if err != nil {
			return rollout.State{}, err
		}
		if stored.Version != st.Version {
			return rollout.State{}, fmt.Errorf("kubernetes store: rollout %q: stored version %d, update from %d: %w", st.ID, stored.Version, st.Version, errConflict)
		}
		rv = cur.ResourceVersion
	}
	next := st
	next.Version++
	cm, err := s.configMap(next)
	if err != nil {
		return rollout.State{}, err
	}
	cm.ResourceVersion = rv
	out, err := s.p.cs.CoreV1().ConfigMaps(s.namespace).Update(ctx, cm, s.p.updateOpts())
	if apierrors.IsConflict(err) && c != nil {
		// The resourceVersion may come from a cache behind the apiserver: read
		// directly, retry once if only the resourceVersion moved, and keep what
		// was read for the next Get either way.
		cur, gerr := s.p.cs.CoreV1().ConfigMaps(s.namespace).Get(ctx, name, metav1.GetOptions{})
		if gerr == nil {
			c.remember(cur)
			if stored, derr := decodeConfigMap(cur); derr == nil {
				s.remember(st.ID, stored.Version, cur.ResourceVersion, false)
				if sv.cached && stored.Version == st.Version {
					cm.ResourceVersion = cur.ResourceVersion
					out, err = s.p.cs.CoreV1().ConfigMaps(s.namespace).Update(ctx, cm, s.p.updateOpts())
				}
			}
		}
	}
	if apierrors.IsConflict(err) {
		return rollout.State{}, fmt.Errorf("kubernetes store: rollout %q: ConfigMap %s/%s changed since version %d was read (someone else wrote it): %w", st.ID, s.namespace, name, st.Version, errConflict)
	}
	if err != nil {
		return rollout.State{}, classify(err, "kubernetes store: update rollout %q", st.ID)
	}
	if !s.p.opts.DryRun {
		s.remember(next.ID, next.Version, out.ResourceVersion, false)
		c.remember(out)
	}
	return next, nil
}

// List implements rollout.StateStore. It reads the namespace's ConfigMap
// informer, with this Provider's own writes and deletes that the informer has
// not shown yet, and makes no request; without the informer (no list and watch
// on configmaps) it is one LIST. A Manager lists at every resync, and starting
// a rollout lists twice: at a thousand rollouts, LISTs of every state made
// starting them quadratic. Each state is decoded once per resourceVersion, so
// the states of two Lists may share their slices and maps: read them, do not
// modify them.
func (s *Store) List(ctx context.Context) ([]rollout.State, error) {
	var items []*corev1.ConfigMap
	decode := decodeConfigMap
	if c := s.cache(ctx); c != nil {
		items = c.list(s.namespace)
		decode = c.decode
	} else {
		list, err := s.p.cs.CoreV1().ConfigMaps(s.namespace).List(ctx, metav1.ListOptions{
			LabelSelector: labels.Set{ManagedByLabel: s.p.opts.FieldManager, ComponentLabel: "rollout-state"}.String(),
		})
		if err != nil {
			return nil, classify(err, "kubernetes store: list rollouts in %s", s.namespace)
		}
		for i := range list.Items {
			items = append(items, &list.Items[i])
		}
	}
	out := make([]rollout.State, 0, len(items))
	for _, cm := range items {
		st, err := decode(cm)
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// Delete implements rollout.StateStore: one DELETE of the state's ConfigMap.
func (s *Store) Delete(ctx context.Context, id string) error {
	name := ConfigMapName(id)
	err := s.p.cs.CoreV1().ConfigMaps(s.namespace).Delete(ctx, name, metav1.DeleteOptions{})
	if err != nil {
		return classify(err, "kubernetes store: delete rollout %q (ConfigMap %s/%s)", id, s.namespace, name)
	}
	s.mu.Lock()
	delete(s.seen, id)
	s.mu.Unlock()
	if c := s.cache(ctx); c != nil {
		c.forget(s.namespace, name)
	}
	return nil
}

func (s *Store) configMap(st rollout.State) (*corev1.ConfigMap, error) {
	raw, err := json.Marshal(st)
	if err != nil {
		return nil, fmt.Errorf("kubernetes store: encode rollout %q: %w", st.ID, err)
	}
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{
			Name:      ConfigMapName(st.ID),
			Namespace: s.namespace,
			Labels: map[string]string{
				ManagedByLabel: s.p.opts.FieldManager,
				ComponentLabel: "rollout-state",
			},
			Annotations: map[string]string{RolloutAnnotation: st.ID},
		},
	}
	if st.Plan.Target.Name != "" {
		cm.Labels[TargetAnnotation] = labelValue(st.Plan.Target.Name)
	}
	if len(raw) <= MaxPlainState {
		cm.Data = map[string]string{StateKey: string(raw)}
		return cm, nil
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(raw); err != nil {
		return nil, fmt.Errorf("kubernetes store: compress rollout %q: %w", st.ID, err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("kubernetes store: compress rollout %q: %w", st.ID, err)
	}
	cm.BinaryData = map[string][]byte{StateGzipKey: buf.Bytes()}
	return cm, nil
}

func decodeConfigMap(cm *corev1.ConfigMap) (rollout.State, error) {
	var raw []byte
	switch {
	case cm.Data[StateKey] != "":
		raw = []byte(cm.Data[StateKey])
	case len(cm.BinaryData[StateGzipKey]) > 0:
		zr, err := gzip.NewReader(bytes.NewReader(cm.BinaryData[StateGzipKey]))
		if err != nil {
			return rollout.State{}, fmt.Errorf("kubernetes store: ConfigMap %s/%s: %w", cm.Namespace, cm.Name, err)
		}
		raw, err = io.ReadAll(zr)
		if err != nil {
			return rollout.State{}, fmt.Errorf("kubernetes store: ConfigMap %s/%s: %w", cm.Namespace, cm.Name, err)
		}
	default:
		return rollout.State{}, fmt.Errorf("kubernetes store: ConfigMap %s/%s holds no state: %w", cm.Namespace, cm.Name, progressive.ErrInvalid)
	}
	var st rollout.State
	if err := json.Unmarshal(raw, &st); err != nil {
		return rollout.State{}, fmt.Errorf("kubernetes store: ConfigMap %s/%s: decode state: %w", cm.Namespace, cm.Name, err)
	}
	return st, nil
}
