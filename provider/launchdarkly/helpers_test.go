package launchdarkly_test

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/flags/flagtest"
	"github.com/agentops/progressive/provider/launchdarkly"
	"github.com/agentops/progressive/provider/launchdarkly/ldfake"
	ldclient "github.com/launchdarkly/go-server-sdk/v7"
	"github.com/launchdarkly/go-server-sdk/v7/ldcomponents"
	"github.com/stretchr/testify/require"
)

const (
	apiToken = "api-7c1d2e3f-0000-4b5a-9c8d-secret-token"
	project  = "payments"
	flagKey  = "payment_gateway_v2"
)

var sdkKeys = map[string]string{"staging": "sdk-staging-0f1e2d3c-secret", "production": "sdk-production-4b5a6978-secret"}

// syncBuffer is a log sink safe for concurrent writers.
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
	fake  *ldfake.Server
	store *launchdarkly.Store
	logs  *syncBuffer
}

func ref(env string) progressive.FlagRef {
	return progressive.FlagRef{Project: project, Environment: env, Key: flagKey}
}

// newWorld starts a fake LaunchDarkly with payment_gateway_v2 (off: false, on: true;
// serving off) in staging and production, a beta-testers segment, and a store.
func newWorld(t *testing.T, mod ...func(*launchdarkly.Options)) *world {
	t.Helper()
	fake := ldfake.New(apiToken, "staging", "production")
	t.Cleanup(fake.Close)
	fake.AddFlag(project, ldfake.FlagSpec{Key: flagKey, Variations: []ldfake.Variation{{Value: false, Name: "off"}, {Value: true, Name: "on"}}})
	fake.AddFlag(project, ldfake.FlagSpec{Key: "search_algorithm", Variations: []ldfake.Variation{{Value: "classic"}, {Value: "vector"}}})
	for _, env := range []string{"staging", "production"} {
		fake.AddSegment(env, "beta-testers", "tess", "tom")
	}
	logs := &syncBuffer{}
	opts := launchdarkly.Options{
		Project:      project,
		APIToken:     apiToken,
		BaseURL:      fake.URL(),
		Environments: []launchdarkly.Environment{sdkEnv(fake, "staging"), sdkEnv(fake, "production")},
		Backoff:      time.Millisecond,
		Logger:       slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for _, m := range mod {
		m(&opts)
	}
	store, err := launchdarkly.New(opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = store.Close() })
	return &world{fake: fake, store: store, logs: logs}
}

func sdkEnv(fake *ldfake.Server, env string) launchdarkly.Environment {
	return launchdarkly.Environment{Key: env, SDKKey: sdkKeys[env], Config: ldclient.Config{
		DataSource: fake.DataSource(env),
		Events:     ldcomponents.NoEvents(),
		Logging:    ldcomponents.NoLogging(),
	}}
}

func (w *world) fixture() flagtest.Fixture {
	return flagtest.Fixture{
		Store:          w.store,
		Project:        project,
		Environments:   [2]string{"staging", "production"},
		Flag:           flagKey,
		Segment:        "beta-testers",
		SegmentMembers: []string{"tess", "tom"},
		ClauseRules:    true,
		Evaluate: func(ctx context.Context, ref progressive.FlagRef, key string, attrs map[string]string) (string, error) {
			v, err := w.store.Evaluate(ctx, ref, key, attrs)
			return v.Name, err
		},
		Requests: func() int { return len(w.fake.Requests()) },
	}
}
