package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	ldclient "github.com/launchdarkly/go-server-sdk/v7"
	"github.com/launchdarkly/go-server-sdk/v7/ldcomponents"
	"github.com/launchdarkly/go-server-sdk/v7/subsystems"
	"github.com/launchdarkly/go-server-sdk/v7/subsystems/ldstoretypes"
	"github.com/stretchr/testify/require"

	"github.com/agentops/progressive/provider/launchdarkly/ldfake"
)

// ldRelay stands in for LaunchDarkly's Relay Proxy between ldfake and the
// built binary: ldfake feeds its flags to SDK clients in the test's process
// (a test data source), which the binary cannot reach. The relay runs a real
// SDK client on that source and streams everything it holds to SDK clients
// elsewhere the way LaunchDarkly's streaming service does (server-sent
// events on /all; a "put" of every flag and segment, again after each
// change), so that the binary's SDK sees each write of its own rollout.
type ldRelay struct {
	srv    *httptest.Server
	client *ldclient.LDClient

	mu      sync.Mutex
	store   subsystems.DataStore
	kinds   []ldstoretypes.DataKind
	version int
	changed chan struct{} // closed and replaced on every change
}

func startRelay(t *testing.T, fake *ldfake.Server, env string) *ldRelay {
	t.Helper()
	r := &ldRelay{changed: make(chan struct{})}
	r.srv = httptest.NewServer(http.HandlerFunc(r.stream))
	t.Cleanup(r.srv.Close)
	client, err := ldclient.MakeCustomClient("relay-"+env, ldclient.Config{
		DataSource: fake.DataSource(env),
		DataStore:  relayStore{r},
		Events:     ldcomponents.NoEvents(),
		Logging:    ldcomponents.NoLogging(),
	}, 5*time.Second)
	require.NoError(t, err)
	r.client = client
	t.Cleanup(func() { _ = client.Close() })
	return r
}

// URL is the relay's base URL (flags.relayURL of the configuration).
func (r *ldRelay) URL() string { return r.srv.URL }

func (r *ldRelay) notify() {
	r.mu.Lock()
	r.version++
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()
}

// put is the stream's "put" event data: every flag and segment.
func (r *ldRelay) put() ([]byte, <-chan struct{}, error) {
	r.mu.Lock()
	store, kinds, changed := r.store, r.kinds, r.changed
	r.mu.Unlock()
	data := map[string]map[string]json.RawMessage{"flags": {}, "segments": {}}
	for _, k := range kinds {
		name := k.GetName()
		if name == "features" {
			name = "flags"
		}
		items, err := store.GetAll(k)
		if err != nil {
			return nil, nil, err
		}
		if data[name] == nil {
			data[name] = map[string]json.RawMessage{}
		}
		for _, it := range items {
			data[name][it.Key] = k.Serialize(it.Item)
		}
	}
	b, err := json.Marshal(map[string]any{"path": "/", "data": data})
	return b, changed, err
}

func (r *ldRelay) stream(w http.ResponseWriter, req *http.Request) {
	if req.URL.Path != "/all" {
		http.NotFound(w, req)
		return
	}
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "no streaming", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	for {
		b, changed, err := r.put()
		if err != nil {
			return
		}
		if _, err := fmt.Fprintf(w, "event: put\ndata: %s\n\n", b); err != nil {
			return
		}
		fl.Flush()
		select {
		case <-req.Context().Done():
			return
		case <-changed:
		}
	}
}

// relayStore is the relay client's data store: in memory, telling the
// relay of every change.
type relayStore struct{ r *ldRelay }

func (c relayStore) Build(ctx subsystems.ClientContext) (subsystems.DataStore, error) {
	inner, err := ldcomponents.InMemoryDataStore().Build(ctx)
	if err != nil {
		return nil, err
	}
	c.r.mu.Lock()
	c.r.store = inner
	c.r.mu.Unlock()
	return notifyingStore{DataStore: inner, r: c.r}, nil
}

type notifyingStore struct {
	subsystems.DataStore
	r *ldRelay
}

func (s notifyingStore) Init(all []ldstoretypes.Collection) error {
	err := s.DataStore.Init(all)
	s.r.mu.Lock()
	s.r.kinds = s.r.kinds[:0]
	for _, c := range all {
		s.r.kinds = append(s.r.kinds, c.Kind)
	}
	s.r.mu.Unlock()
	s.r.notify()
	return err
}

func (s notifyingStore) Upsert(kind ldstoretypes.DataKind, key string, item ldstoretypes.ItemDescriptor) (bool, error) {
	ok, err := s.DataStore.Upsert(kind, key, item)
	s.r.notify()
	return ok, err
}
