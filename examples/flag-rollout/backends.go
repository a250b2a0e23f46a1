package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	fsclient "github.com/Flagsmith/flagsmith-go-client/v4"
	"github.com/agentops/progressive"
	"github.com/agentops/progressive/flags"
	"github.com/agentops/progressive/provider/flagsmith"
	"github.com/agentops/progressive/provider/flagsmith/fsfake"
	"github.com/agentops/progressive/provider/launchdarkly"
	"github.com/agentops/progressive/provider/launchdarkly/ldfake"
	"github.com/launchdarkly/go-sdk-common/v3/ldcontext"
	"github.com/launchdarkly/go-sdk-common/v3/ldvalue"
	ldclient "github.com/launchdarkly/go-server-sdk/v7"
	"github.com/launchdarkly/go-server-sdk/v7/ldcomponents"
)

// The two flags of the guide, in the environments staging and production.
const (
	gatewayFlag = "payment_gateway_v2" // variations off, on
	searchFlag  = "search_algorithm"   // variations classic, vector
	project     = "payments"
)

var environments = [2]string{"staging", "production"}

// The credentials of the local stand-ins. Real ones come from a secret store; the
// rollouts below check that none of them reaches a log line, an error or a record.
const (
	ldAPIToken   = "api-3f2e1d0c-local-example-token"
	fsAdminToken = "adm-local-example-admin-token"
)

var (
	ldSDKKeys    = map[string]string{"staging": "sdk-local-staging-key", "production": "sdk-local-production-key"}
	fsServerKeys = map[string]string{"staging": "ser.localStagingKey01", "production": "ser.localProductionKey"}
)

// backend is a flag service stood in for by a local fake whose SDK runs for real.
type backend struct {
	name string
	// open starts a store against the backend, as a process does at start-up; a
	// restarted process opens a new one. Close it with the returned function.
	open func(logger *slog.Logger) (progressive.FlagStore, func(), error)
	// serve returns the name of the variation the store's SDK client serves user.
	serve func(ctx context.Context, store progressive.FlagStore, ref progressive.FlagRef, user string) (string, error)
	// writes counts the writes the backend applied.
	writes func() int
	// fail makes the backend answer the store's next n requests with status.
	fail  func(n, status int)
	close func()
	// secrets are the backend's credentials, for checking none leaks.
	secrets []string
}

func ref(env, key string) progressive.FlagRef {
	return progressive.FlagRef{Project: project, Environment: env, Key: key}
}

// newLaunchDarkly starts a local LaunchDarkly: the REST API checks each semantic
// patch and pushes the result into the ldtestdata sources the SDK clients read.
func newLaunchDarkly() *backend {
	fake := ldfake.New(ldAPIToken, environments[:]...)
	fake.AddFlag(project, ldfake.FlagSpec{Key: gatewayFlag, Variations: []ldfake.Variation{{Value: false, Name: "off"}, {Value: true, Name: "on"}}})
	fake.AddFlag(project, ldfake.FlagSpec{Key: searchFlag, Variations: []ldfake.Variation{{Value: "classic", Name: "classic"}, {Value: "vector", Name: "vector"}}})
	names := map[string]map[string]string{
		gatewayFlag: {"false": "off", "true": "on"},
		searchFlag:  {"classic": "classic", "vector": "vector"},
	}
	return &backend{
		name: launchdarkly.Name,
		open: func(logger *slog.Logger) (progressive.FlagStore, func(), error) {
			var envs []launchdarkly.Environment
			for _, e := range environments {
				envs = append(envs, launchdarkly.Environment{Key: e, SDKKey: ldSDKKeys[e], Config: ldclient.Config{
					DataSource: fake.DataSource(e), Events: ldcomponents.NoEvents(), Logging: ldcomponents.NoLogging(),
				}})
			}
			s, err := launchdarkly.New(launchdarkly.Options{
				Project: project, Environments: envs, APIToken: ldAPIToken, BaseURL: fake.URL(),
				Backoff: time.Millisecond, Logger: logger,
			})
			if err != nil {
				return nil, nil, err
			}
			return s, func() { _ = s.Close() }, nil
		},
		serve: func(_ context.Context, store progressive.FlagStore, r progressive.FlagRef, user string) (string, error) {
			client, err := store.(*launchdarkly.Store).Client(r.Environment)
			if err != nil {
				return "", err
			}
			v, err := client.JSONVariation(r.Key, ldcontext.New(user), ldvalue.Null())
			if err != nil {
				return "", err
			}
			text := v.JSONString()
			if v.IsString() {
				text = v.StringValue()
			}
			return names[r.Key][text], nil
		},
		writes:  fake.Writes,
		fail:    func(n, status int) { fake.FailNext(n, status, nil) },
		close:   fake.Close,
		secrets: []string{ldAPIToken, ldSDKKeys["staging"], ldSDKKeys["production"]},
	}
}

// newFlagsmith starts a local Flagsmith: it serves the environment documents the
// SDK clients poll (local evaluation) and applies Admin API writes to them.
func newFlagsmith() *backend {
	fake := fsfake.New(fsAdminToken)
	for _, e := range environments {
		fake.AddEnvironment(e, fsServerKeys[e])
	}
	fake.AddFeature(fsfake.FeatureSpec{Name: gatewayFlag, Control: "off", Options: []any{"on"}})
	fake.AddFeature(fsfake.FeatureSpec{Name: searchFlag, Control: "classic", Options: []any{"vector"}})
	return &backend{
		name: flagsmith.Name,
		open: func(logger *slog.Logger) (progressive.FlagStore, func(), error) {
			var envs []flagsmith.Environment
			for _, e := range environments {
				envs = append(envs, flagsmith.Environment{Name: e, ServerKey: fsServerKeys[e]})
			}
			s, err := flagsmith.New(flagsmith.Options{
				Environments: envs, APIURL: fake.URL(), AdminURL: fake.URL(), APIToken: fsAdminToken,
				RefreshInterval: time.Hour, Backoff: time.Millisecond, Logger: logger,
			})
			if err != nil {
				return nil, nil, err
			}
			return s, func() { _ = s.Close() }, nil
		},
		serve: func(ctx context.Context, store progressive.FlagStore, r progressive.FlagRef, user string) (string, error) {
			client, err := store.(*flagsmith.Store).Client(r.Environment)
			if err != nil {
				return "", err
			}
			got, err := client.GetFlags(ctx, &fsclient.EvaluationContext{Identity: &fsclient.IdentityEvaluationContext{Identifier: &user}})
			if err != nil {
				return "", err
			}
			f, err := got.GetFlag(r.Key)
			if err != nil || !f.Enabled {
				return "", err
			}
			return fmt.Sprint(f.Value), nil
		},
		writes:  fake.Writes,
		fail:    func(n, status int) { fake.FailNext(n, status, nil) },
		close:   fake.Close,
		secrets: []string{fsAdminToken, fsServerKeys["staging"], fsServerKeys["production"]},
	}
}

// share evaluates n distinct users through the SDK and returns the percentage
// served variation.
func (b *backend) share(ctx context.Context, store progressive.FlagStore, r progressive.FlagRef, variation string, n int) (float64, error) {
	hits := 0
	for i := range n {
		got, err := b.serve(ctx, store, r, fmt.Sprintf("user-%d", i))
		if err != nil {
			return 0, err
		}
		if got == variation {
			hits++
		}
	}
	return 100 * float64(hits) / float64(n), nil
}

// prepare sets what every rollout here starts from: staging serves the new
// variation to everyone while production is off, at 0%, with QA's accounts
// targeted (they always get the new variation).
func prepare(ctx context.Context, store progressive.FlagStore, key, variation, fallback string, qa []string) error {
	envs := flags.Environments{Project: project, Key: key, Variation: variation, Fallback: fallback, States: []flags.EnvironmentState{
		{Environment: "staging", On: true, Percent: 100},
		{Environment: "production", On: false, Percent: 0},
	}}
	if _, err := envs.Sync(ctx, store); err != nil {
		return err
	}
	return flags.SetTargets(ctx, store, ref("production", key), variation, qa)
}
