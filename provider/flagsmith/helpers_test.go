package flagsmith_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/flags/flagtest"
	"github.com/agentops/progressive/provider/flagsmith"
	"github.com/agentops/progressive/provider/flagsmith/fsfake"
	"github.com/stretchr/testify/require"
)

const (
	adminToken = "adm-9f8e7d6c5b4a-secret-token"
	flagKey    = "payment_gateway_v2"
)

var serverKeys = map[string]string{"staging": "ser.staging0a1b2c3d4e5f", "production": "ser.production9z8y7x6w"}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type world struct {
	fake  *fsfake.Server
	store *flagsmith.Store
	logs  *syncBuffer
}

func ref(env string) progressive.FlagRef {
	return progressive.FlagRef{Environment: env, Key: flagKey}
}

// newWorld starts a fake Flagsmith with staging and production, the multivariate
// feature payment_gateway_v2 (control "off", option "on" at 0%, disabled), a
// beta-testers segment (identifier trait in tess, tom), and a store.
func newWorld(t *testing.T, mod ...func(*flagsmith.Options)) *world {
	t.Helper()
	fake := fsfake.New(adminToken)
	t.Cleanup(fake.Close)
	for _, env := range []string{"staging", "production"} {
		fake.AddEnvironment(env, serverKeys[env])
	}
	fake.AddFeature(fsfake.FeatureSpec{Name: flagKey, Control: "off", Options: []any{"on"}})
	fake.AddFeature(fsfake.FeatureSpec{Name: "search_algorithm", Control: "classic", Options: []any{"vector"}, Enabled: true})
	fake.AddSegment("beta-testers", fsfake.Condition{Property: "identifier", Operator: "IN", Value: "tess,tom"})
	fake.AddSegment("germany", fsfake.Condition{Property: "country", Operator: "EQUAL", Value: "DE"})
	logs := &syncBuffer{}
	opts := flagsmith.Options{
		Environments: []flagsmith.Environment{
			{Name: "staging", ServerKey: serverKeys["staging"]},
			{Name: "production", ServerKey: serverKeys["production"]},
		},
		APIURL:          fake.URL(),
		AdminURL:        fake.URL(),
		APIToken:        adminToken,
		RefreshInterval: time.Hour,
		Backoff:         time.Millisecond,
		Logger:          slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for _, m := range mod {
		m(&opts)
	}
	store, err := flagsmith.New(opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = store.Close() })
	return &world{fake: fake, store: store, logs: logs}
}

// evaluate serves the flag to key through the SDK; the application passes its
// user key as the identifier trait too, which the beta-testers segment matches.
func (w *world) evaluate(ctx context.Context, ref progressive.FlagRef, key string, attrs map[string]string) (string, error) {
	traits := map[string]string{"identifier": key}
	for k, v := range attrs {
		traits[k] = v
	}
	v, err := w.store.Evaluate(ctx, ref, key, traits)
	return v.Name, err
}

// storeRequests counts the requests the store itself sent (not the SDK's polls).
func (w *world) storeRequests() int {
	n := 0
	for _, r := range w.fake.Requests() {
		if strings.HasPrefix(r.UserAgent, "progressive-flags") {
			n++
		}
	}
	return n
}

func (w *world) fixture() flagtest.Fixture {
	return flagtest.Fixture{
		Store:          w.store,
		Environments:   [2]string{"staging", "production"},
		Flag:           flagKey,
		Segment:        "beta-testers",
		SegmentMembers: []string{"tess", "tom"},
		ClauseRules:    false,
		Evaluate:       w.evaluate,
		Requests:       w.storeRequests,
	}
}
