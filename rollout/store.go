package rollout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/agentops/progressive"
)

// StateStore persists rollout states with optimistic concurrency: Update succeeds
// only when the stored Version equals the given one, so two processes cannot both
// drive a rollout unnoticed.
type StateStore interface {
	// Get returns the state of id, or an error wrapping progressive.ErrNotFound.
	Get(ctx context.Context, id string) (State, error)
	// Create stores a new state at Version 1; it wraps progressive.ErrConflict when id exists.
	Create(ctx context.Context, s State) (State, error)
	// Update stores s when s.Version matches and returns it with the next Version;
	// otherwise it wraps progressive.ErrConflict.
	Update(ctx context.Context, s State) (State, error)
	// List returns every stored state, ordered by id.
	List(ctx context.Context) ([]State, error)
	// Delete removes the state of id (and its observations, for an
	// ObservationLog), or returns an error wrapping progressive.ErrNotFound.
	// It does not look at the phase: Prune deletes only finished rollouts.
	Delete(ctx context.Context, id string) error
}

// FreshReader is an optional interface of a StateStore whose Get may show
// another process's write late: one that reads through a cache fed by a watch
// (provider/kubernetes.Store). GetFresh reads the state as the backend holds it
// now (the API server's quorum read), and from then on the store's Get returns
// that version or a later one.
//
// Run calls it once as it starts driving a rollout, which is when the previous
// owner's last write matters: a process that takes a rollout over from another
// (after its Lease was released or expired), or resumes one after a restart,
// would otherwise act on the step before that write and carry it out again (the
// state write that follows is refused, but a promote or a scale has happened
// twice). Stores read by one process (MemoryStore, FileStore) need not
// implement it. A wrapper of a store should forward it.
type FreshReader interface {
	GetFresh(ctx context.Context, id string) (State, error)
}

// MemoryStore keeps states in memory; the zero value is not usable, use NewMemoryStore.
type MemoryStore struct {
	mu           sync.Mutex
	states       map[string][]byte
	versions     map[string]int64
	observations map[string][]numbered
}

// NewMemoryStore returns an empty in-memory store.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{states: map[string][]byte{}, versions: map[string]int64{}}
}

// Get implements StateStore. States are stored encoded, so callers never share memory
// with the store (what a restarted process would see).
func (m *MemoryStore) Get(_ context.Context, id string) (State, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.states[id]
	if !ok {
		return State{}, fmt.Errorf("rollout %q: %w", id, progressive.ErrNotFound)
	}
	return decodeState(b)
}

// Create implements StateStore.
func (m *MemoryStore) Create(_ context.Context, s State) (State, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.states[s.ID]; ok {
		return State{}, fmt.Errorf("rollout %q already exists: %w", s.ID, progressive.ErrConflict)
	}
	s.Version = 1
	b, err := json.Marshal(s)
	if err != nil {
		return State{}, fmt.Errorf("encode rollout %q: %w", s.ID, err)
	}
	m.states[s.ID] = b
	m.versions[s.ID] = s.Version
	return s, nil
}

// Update implements StateStore.
func (m *MemoryStore) Update(_ context.Context, s State) (State, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cur, ok := m.versions[s.ID]
	if !ok {
		return State{}, fmt.Errorf("rollout %q: %w", s.ID, progressive.ErrNotFound)
	}
	if cur != s.Version {
		return State{}, fmt.Errorf("rollout %q: stored version %d, update from %d: %w", s.ID, cur, s.Version, progressive.ErrConflict)
	}
	s.Version++
	nb, err := json.Marshal(s)
	if err != nil {
		return State{}, fmt.Errorf("encode rollout %q: %w", s.ID, err)
	}
	m.states[s.ID] = nb
	m.versions[s.ID] = s.Version
	return s, nil
}

// List implements StateStore.
func (m *MemoryStore) List(_ context.Context) ([]State, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]State, 0, len(m.states))
	for _, b := range m.states {
		s, err := decodeState(b)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// Delete implements StateStore.
func (m *MemoryStore) Delete(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.states[id]; !ok {
		return fmt.Errorf("rollout %q: %w", id, progressive.ErrNotFound)
	}
	delete(m.states, id)
	delete(m.versions, id)
	delete(m.observations, id)
	return nil
}

func decodeState(b []byte) (State, error) {
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return State{}, fmt.Errorf("decode rollout state: %w", err)
	}
	return s, nil
}

// FileStore keeps one JSON file per rollout in a directory. Writes go to a
// temporary file renamed over the old one, so a crash never leaves half a state.
// It serialises writers within one process; across processes use a Kubernetes
// store and a Lease.
type FileStore struct {
	dir string
	mu  sync.Mutex
}

// NewFileStore creates dir if needed.
func NewFileStore(dir string) (*FileStore, error) {
	if dir == "" {
		return nil, fmt.Errorf("file store directory: must not be empty: %w", progressive.ErrInvalid)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("file store: %w", err)
	}
	return &FileStore{dir: dir}, nil
}

// path maps an id to its file. Ids are plan names, DNS-1123 subdomains: a name
// starting with "." would be a hidden file that List never returned.
func (f *FileStore) path(id string) (string, error) {
	if !progressive.IsDNSSubdomain(id) {
		return "", fmt.Errorf("rollout id %q: must be a DNS-1123 subdomain (lower-case letters, digits, '-' and '.', starting and ending with a letter or digit): %w", id, progressive.ErrInvalid)
	}
	return filepath.Join(f.dir, id+".json"), nil
}

// writeFailed classifies a failed write: a full disk, a read-only directory or a
// vanished one are facts about the machine, not the rollout, and the runner
// retries them (Run keeps the rollout driven meanwhile).
func writeFailed(id string, err error) error {
	return fmt.Errorf("write rollout %q: %w: %w", id, progressive.ErrTransient, err)
}

// Get implements StateStore.
func (f *FileStore) Get(_ context.Context, id string) (State, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.read(id)
}

func (f *FileStore) read(id string) (State, error) {
	p, err := f.path(id)
	if err != nil {
		return State{}, err
	}
	b, err := os.ReadFile(p)
	if os.IsNotExist(err) {
		return State{}, fmt.Errorf("rollout %q: %w", id, progressive.ErrNotFound)
	}
	if err != nil {
		return State{}, fmt.Errorf("read rollout %q: %w", id, err)
	}
	return decodeState(b)
}

func (f *FileStore) write(s State) error {
	p, err := f.path(s.ID)
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("encode rollout %q: %w", s.ID, err)
	}
	tmp, err := os.CreateTemp(f.dir, ".tmp-"+s.ID+"-*")
	if err != nil {
		return writeFailed(s.ID, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return writeFailed(s.ID, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return writeFailed(s.ID, err)
	}
	if err := tmp.Close(); err != nil {
		return writeFailed(s.ID, err)
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		return writeFailed(s.ID, err)
	}
	return nil
}

// Create implements StateStore.
func (f *FileStore) Create(_ context.Context, s State) (State, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := f.read(s.ID); err == nil {
		return State{}, fmt.Errorf("rollout %q already exists: %w", s.ID, progressive.ErrConflict)
	}
	s.Version = 1
	return s, f.write(s)
}

// Update implements StateStore.
func (f *FileStore) Update(_ context.Context, s State) (State, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	cur, err := f.read(s.ID)
	if err != nil {
		return State{}, err
	}
	if cur.Version != s.Version {
		return State{}, fmt.Errorf("rollout %q: stored version %d, update from %d: %w", s.ID, cur.Version, s.Version, progressive.ErrConflict)
	}
	s.Version++
	return s, f.write(s)
}

// ErrCorruptState marks entries of a store that cannot be read as states.
var ErrCorruptState = errors.New("corrupt rollout state")

// List implements StateStore. One unreadable file does not hide the others: List
// returns every state it could read and, beside them, an error wrapping
// ErrCorruptState that names each entry it skipped. A caller that can act on
// the readable ones (resuming every rollout after a restart) checks
// errors.Is(err, ErrCorruptState).
func (f *FileStore) List(_ context.Context) ([]State, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	entries, err := os.ReadDir(f.dir)
	if err != nil {
		return nil, fmt.Errorf("list rollouts: %w: %w", progressive.ErrTransient, err)
	}
	var out []State
	var corrupt []error
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".json") || strings.HasPrefix(name, ".") {
			continue
		}
		id := strings.TrimSuffix(name, ".json")
		s, err := f.read(id)
		if err == nil && s.ID != id {
			err = fmt.Errorf("holds rollout %q", s.ID)
		}
		if err != nil {
			corrupt = append(corrupt, fmt.Errorf("%s: %w", name, err))
			continue
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	if len(corrupt) > 0 {
		return out, fmt.Errorf("list rollouts in %s: skipped %d entr(y/ies): %w: %w", f.dir, len(corrupt), ErrCorruptState, errors.Join(corrupt...))
	}
	return out, nil
}

// Delete implements StateStore: the state's file and its observation log.
func (f *FileStore) Delete(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, err := f.path(id)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("rollout %q: %w", id, progressive.ErrNotFound)
		}
		return fmt.Errorf("delete rollout %q: %w: %w", id, progressive.ErrTransient, err)
	}
	if op, err := f.observationsPath(id); err == nil {
		if err := os.Remove(op); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("delete the observations of rollout %q: %w: %w", id, progressive.ErrTransient, err)
		}
	}
	return nil
}
