package launchdarkly_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/flags"
	"github.com/agentops/progressive/internal/flaghttp"
	"github.com/agentops/progressive/provider/launchdarkly"
	"github.com/launchdarkly/go-sdk-common/v3/ldcontext"
	"github.com/launchdarkly/go-sdk-common/v3/ldvalue"
	"github.com/launchdarkly/go-server-sdk-evaluation/v3/ldbuilders"
	ldclient "github.com/launchdarkly/go-server-sdk/v7"
	"github.com/launchdarkly/go-server-sdk/v7/ldcomponents"
	"github.com/launchdarkly/go-server-sdk/v7/testhelpers/ldtestdata"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	testingclock "k8s.io/utils/clock/testing"
)

// variationIDs reads the _id of each variation from the fake's representation.
func variationIDs(t *testing.T, w *world, key string) []string {
	t.Helper()
	raw, ok := w.fake.Flag(project, key)
	require.True(t, ok)
	var f struct {
		Variations []struct {
			ID string `json:"_id"`
		} `json:"variations"`
	}
	require.NoError(t, json.Unmarshal(raw, &f))
	var ids []string
	for _, v := range f.Variations {
		ids = append(ids, v.ID)
	}
	return ids
}

// patches returns the bodies of the PATCH requests after the first n requests.
func patches(t *testing.T, w *world, from int) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, r := range w.fake.Requests()[from:] {
		if r.Method != http.MethodPatch {
			continue
		}
		assert.Equal(t, "/api/v2/flags/payments/payment_gateway_v2", r.Path)
		assert.Equal(t, "application/json; domain-model=launchdarkly.semanticpatch", r.ContentType)
		assert.True(t, r.Authorized, "the API token goes in the Authorization header")
		var body map[string]any
		require.NoError(t, json.Unmarshal(r.Body, &body))
		out = append(out, body)
	}
	return out
}

func TestWritesAreDocumentedSemanticPatches(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	ids := variationIDs(t, w, flagKey) // off, on
	n := len(w.fake.Requests())

	require.NoError(t, w.store.SetRollout(ctx, ref("production"), progressive.PercentRollout("on", "off", 12.5)))
	reqs := w.fake.Requests()[n:]
	require.Len(t, reqs, 2, "variation ids are read first, then one PATCH")
	assert.Equal(t, http.MethodGet, reqs[0].Method)
	assert.Equal(t, "/api/v2/flags/payments/payment_gateway_v2", reqs[0].Path)
	assert.Equal(t, "env=production", reqs[0].Query)
	body := patches(t, w, n)[0]
	assert.Equal(t, "production", body["environmentKey"])
	assert.Equal(t, []any{map[string]any{
		"kind":               "updateFallthroughVariationOrRollout",
		"rolloutWeights":     map[string]any{ids[1]: 12500.0, ids[0]: 87500.0},
		"rolloutContextKind": "user",
	}}, body["instructions"])

	n = len(w.fake.Requests())
	require.NoError(t, w.store.SetOn(ctx, ref("production"), true))
	assert.Equal(t, []any{map[string]any{"kind": "turnFlagOn"}}, patches(t, w, n)[0]["instructions"])

	n = len(w.fake.Requests())
	require.NoError(t, w.store.SetTargets(ctx, ref("production"), "on", []string{"alice", "bob"}))
	require.NoError(t, w.store.SetTargets(ctx, ref("production"), "off", []string{"bob"}))
	ps := patches(t, w, n)
	require.Len(t, ps, 2)
	assert.Equal(t, []any{map[string]any{"kind": "addTargets", "contextKind": "user", "variationId": ids[1], "values": []any{"alice", "bob"}}}, ps[0]["instructions"])
	assert.Equal(t, []any{
		map[string]any{"kind": "removeTargets", "contextKind": "user", "variationId": ids[1], "values": []any{"bob"}},
		map[string]any{"kind": "addTargets", "contextKind": "user", "variationId": ids[0], "values": []any{"bob"}},
	}, ps[1]["instructions"], "a key moving between variations leaves the old one in the same patch")

	n = len(w.fake.Requests())
	require.NoError(t, flags.SetRules(ctx, w.store, ref("production"), []progressive.FlagRule{
		flags.SegmentRule("beta-testers", "on"),
		flags.AttributeRule("tier", "on", "gold", "platinum"),
	}))
	require.NoError(t, flags.SetRules(ctx, w.store, ref("production"), []progressive.FlagRule{flags.AttributeRule("country", "on", "DE")}))
	ps = patches(t, w, n)
	require.Len(t, ps, 2)
	assert.Equal(t, []any{
		map[string]any{"kind": "addRule", "description": "members of beta-testers", "variationId": ids[1], "clauses": []any{
			map[string]any{"contextKind": "user", "attribute": "segmentMatch", "op": "segmentMatch", "negate": false, "values": []any{"beta-testers"}}}},
		map[string]any{"kind": "addRule", "description": "tier in gold, platinum", "variationId": ids[1], "clauses": []any{
			map[string]any{"contextKind": "user", "attribute": "tier", "op": "in", "negate": false, "values": []any{"gold", "platinum"}}}},
	}, ps[0]["instructions"])
	second := ps[1]["instructions"].([]any)
	require.Len(t, second, 3, "two removeRule and one addRule, in one patch")
	assert.Equal(t, "removeRule", second[0].(map[string]any)["kind"])
	assert.Equal(t, "removeRule", second[1].(map[string]any)["kind"])
	assert.Equal(t, "addRule", second[2].(map[string]any)["kind"])

	// The staging environment saw none of it.
	f, err := w.store.GetFlag(ctx, ref("staging"))
	require.NoError(t, err)
	assert.False(t, f.On)
	assert.Empty(t, f.Targets)
	assert.Empty(t, f.Rules)

	// Nothing to change sends no PATCH.
	n = len(w.fake.Requests())
	require.NoError(t, w.store.SetTargets(ctx, ref("production"), "off", []string{"bob"}))
	assert.Empty(t, patches(t, w, n))
}

func TestBadInputIsRejectedBeforeAnyRequest(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	n := len(w.fake.Requests())
	bad := map[string]error{
		"4 decimals":          w.store.SetRollout(ctx, ref("production"), progressive.PercentRollout("on", "off", 12.3456)),
		"over 100":            w.store.SetRollout(ctx, ref("production"), progressive.PercentRollout("on", "off", 101)),
		"unknown environment": w.store.SetOn(ctx, ref("qa"), true),
		"unknown segment":     w.store.SetRules(ctx, ref("production"), []progressive.FlagRule{flags.SegmentRule("vips", "on")}),
		"no key":              w.store.SetOn(ctx, progressive.FlagRef{Environment: "production"}, true),
	}
	for name, err := range bad {
		assert.ErrorIs(t, err, progressive.ErrInvalid, name)
	}
	assert.Contains(t, bad["unknown environment"].Error(), `unknown environment "qa" (known: production, staging)`)
	assert.Contains(t, bad["unknown segment"].Error(), `unknown segment "vips" in environment production (known: beta-testers)`)
	assert.Equal(t, n, len(w.fake.Requests()))

	// An unknown variation needs the variation list: one GET, no PATCH.
	err := w.store.SetRollout(ctx, ref("production"), progressive.PercentRollout("v3", "off", 10))
	require.ErrorIs(t, err, progressive.ErrInvalid)
	assert.Contains(t, err.Error(), `no variation "v3" (known: 0 (off), 1 (on))`)
	assert.Zero(t, w.fake.Writes())
}

func TestFaults(t *testing.T) {
	ctx := context.Background()
	t.Run("401 and 403 are clear and not retried", func(t *testing.T) {
		for _, status := range []int{401, 403} {
			w := newWorld(t)
			w.fake.FailNext(1, status, nil)
			err := w.store.SetOn(ctx, ref("production"), true)
			require.ErrorIs(t, err, flaghttp.ErrAuth)
			require.ErrorIs(t, err, progressive.ErrInvalid)
			assert.False(t, progressive.IsTransient(err))
			assert.Contains(t, err.Error(), "API token")
			assert.Len(t, w.fake.Requests(), 1, "not retried")
		}
	})
	t.Run("a wrong token", func(t *testing.T) {
		w := newWorld(t, func(o *launchdarkly.Options) { o.APIToken = "api-wrong-token-value" })
		err := w.store.SetRollout(ctx, ref("production"), progressive.PercentRollout("on", "off", 5))
		require.ErrorIs(t, err, flaghttp.ErrAuth)
		assert.NotContains(t, err.Error(), "api-wrong-token-value")
	})
	t.Run("429 honours Retry-After on the injected clock", func(t *testing.T) {
		fc := testingclock.NewFakeClock(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
		w := newWorld(t, func(o *launchdarkly.Options) { o.Clock = fc })
		w.fake.FailNext(2, 429, map[string]string{"Retry-After": "7"})
		done := make(chan error, 1)
		go func() {
			done <- w.store.SetRollout(ctx, ref("production"), progressive.PercentRollout("on", "off", 10))
		}()
		for range 2 {
			require.Eventually(t, fc.HasWaiters, 5*time.Second, time.Millisecond)
			fc.Step(7*time.Second - time.Millisecond)
			select {
			case err := <-done:
				t.Fatalf("retried before the Retry-After: %v", err)
			case <-time.After(20 * time.Millisecond):
			}
			// The Retry-After in full, and the jitter added to it (at most half of
			// Backoff, 1ms here).
			fc.Step(2 * time.Millisecond)
		}
		require.NoError(t, <-done)
		assert.Equal(t, 1, w.fake.Writes())
		st, err := flags.Read(ctx, w.store, ref("production"), "on")
		require.NoError(t, err)
		assert.Equal(t, 10.0, st.Percent)
	})
	t.Run("5xx: bounded retries, then ErrTransient and nothing applied", func(t *testing.T) {
		w := newWorld(t, func(o *launchdarkly.Options) { o.Attempts = 3 })
		w.fake.FailNext(3, 503, nil)
		err := w.store.SetRollout(ctx, ref("production"), progressive.PercentRollout("on", "off", 50))
		require.ErrorIs(t, err, progressive.ErrTransient)
		assert.Contains(t, err.Error(), "gave up after 3 attempts")
		assert.Len(t, w.fake.Requests(), 3)
		assert.Zero(t, w.fake.Writes())
		st, err := flags.Read(ctx, w.store, ref("production"), "on")
		require.NoError(t, err)
		assert.Zero(t, st.Percent, "never half-applied")
	})
	t.Run("a 5xx on the PATCH is retried from a fresh read", func(t *testing.T) {
		w := newWorld(t)
		require.NoError(t, w.store.SetRules(ctx, ref("production"), []progressive.FlagRule{flags.SegmentRule("beta-testers", "on")}))
		// GET answers, the PATCH fails; the retry reads the rules again.
		n := len(w.fake.Requests())
		w.fake.FailNextAfter(1, 502)
		require.NoError(t, w.store.SetRules(ctx, ref("production"), []progressive.FlagRule{flags.AttributeRule("country", "on", "DE")}))
		reqs := w.fake.Requests()[n:]
		var methods []string
		for _, r := range reqs {
			methods = append(methods, r.Method+" "+http.StatusText(r.Status))
		}
		assert.Equal(t, []string{"GET OK", "PATCH Bad Gateway", "GET OK", "PATCH OK"}, methods)
		f, err := w.store.GetFlag(ctx, ref("production"))
		require.NoError(t, err)
		require.Len(t, f.Rules, 1)
		assert.Equal(t, "country", f.Rules[0].Clauses[0].Attribute)
	})
}

func TestReadOnlyStoreReadsLDTestData(t *testing.T) {
	ctx := context.Background()
	td := ldtestdata.DataSource()
	// A flag from the test data builders: targets and an attribute rule.
	td.Update(td.Flag("new-checkout").BooleanFlag().On(true).FallthroughVariation(false).
		VariationForUser("qa-1", true).IfMatch("country", ldvalue.String("DE")).ThenReturn(true))
	// A percentage rollout (the builders of this SDK version have none; the
	// evaluation data model's builders do).
	rollout := ldbuilders.NewFlagBuilder(flagKey).On(true).Variations(ldvalue.Bool(false), ldvalue.Bool(true)).OffVariation(0).
		Fallthrough(ldbuilders.Rollout(ldbuilders.Bucket(1, 25000), ldbuilders.Bucket(0, 75000))).
		AddTarget(1, "vip").Build()
	td.UsePreconfiguredFlag(rollout)
	store, err := launchdarkly.New(launchdarkly.Options{Project: project, Environments: []launchdarkly.Environment{{
		Key: "production", SDKKey: sdkKeys["production"],
		Config: ldclient.Config{DataSource: td, Events: ldcomponents.NoEvents(), Logging: ldcomponents.NoLogging()},
	}}})
	require.NoError(t, err)
	defer store.Close()

	f, err := store.GetFlag(ctx, progressive.FlagRef{Key: flagKey})
	require.NoError(t, err)
	assert.Equal(t, "production", f.Ref.Environment, "the only environment is the default")
	assert.True(t, f.On)
	assert.Equal(t, []progressive.Variation{{ID: "0", Name: "false", Value: false}, {ID: "1", Name: "true", Value: true}}, f.Variations)
	assert.Equal(t, 25.0, flags.WeightOf(f, f.Fallthrough, "true"))
	assert.Equal(t, []progressive.FlagTarget{{Variation: "1", Keys: []string{"vip"}}}, f.Targets)

	g, err := store.GetFlag(ctx, progressive.FlagRef{Key: "new-checkout"})
	require.NoError(t, err)
	require.Len(t, g.Rules, 1)
	assert.Equal(t, []progressive.Clause{{Attribute: "country", Op: "in", Values: []string{"DE"}}}, g.Rules[0].Clauses)
	assert.Equal(t, "0", g.Rules[0].Variation, "the boolean builder puts true first")

	// The SDK serves about 25% true.
	client, err := store.Client("production")
	require.NoError(t, err)
	on := 0
	for i := range 4000 {
		v, err := client.BoolVariation(flagKey, ldcontext.New("user-"+strconv.Itoa(i)), false)
		require.NoError(t, err)
		if v {
			on++
		}
	}
	assert.InDelta(t, 25, float64(on)/40, 2.5)

	// Writes need a token.
	err = store.SetRollout(ctx, progressive.FlagRef{Key: flagKey}, progressive.PercentRollout("true", "false", 50))
	require.ErrorIs(t, err, progressive.ErrUnsupported)
	assert.Contains(t, err.Error(), "no API access token is configured")
	err = flags.SetTargets(ctx, store, progressive.FlagRef{Key: flagKey}, "true", []string{"x"})
	require.ErrorIs(t, err, progressive.ErrUnsupported)

	_, err = store.GetFlag(ctx, progressive.FlagRef{Key: "nope"})
	require.ErrorIs(t, err, progressive.ErrNotFound)
	assert.Contains(t, err.Error(), "(the SDK holds new-checkout, payment_gateway_v2)")
}

func TestSecretsNeverShow(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	var msgs []string
	collect := func(err error) {
		if err != nil {
			msgs = append(msgs, err.Error())
		}
	}
	w.fake.FailNext(1, 401, nil)
	collect(w.store.SetOn(ctx, ref("production"), true))
	w.fake.FailNext(4, 500, nil)
	collect(w.store.SetOn(ctx, ref("production"), true))
	collect(w.store.SetOn(ctx, ref("production"), true))
	_, err := w.store.GetFlag(ctx, ref("nowhere"))
	collect(err)
	require.NotEmpty(t, msgs)
	all := strings.Join(msgs, "\n") + w.logs.String()
	for _, secret := range []string{apiToken, sdkKeys["staging"], sdkKeys["production"]} {
		assert.NotContains(t, all, secret)
	}
	assert.Contains(t, w.logs.String(), "flag store request", "requests are logged, without secrets")
}
