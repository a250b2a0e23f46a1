package flagsmith_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/flags"
	"github.com/agentops/progressive/internal/flaghttp"
	"github.com/agentops/progressive/provider/flagsmith"
	"github.com/agentops/progressive/provider/flagsmith/fsfake"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	testingclock "k8s.io/utils/clock/testing"
)

// ids reads, from the document, the feature state id, the client-side key and
// the multivariate value and option ids of the flag in env.
type docIDs struct {
	envKey   string
	stateID  int
	mvID     int
	optionID int
}

func ids(t *testing.T, w *world, env string) docIDs {
	t.Helper()
	raw, ok := w.fake.Document(serverKeys[env])
	require.True(t, ok)
	var doc struct {
		APIKey        string `json:"api_key"`
		FeatureStates []struct {
			DjangoID int `json:"django_id"`
			Feature  struct {
				Name string `json:"name"`
			} `json:"feature"`
			MV []struct {
				ID     int `json:"id"`
				Option struct {
					ID int `json:"id"`
				} `json:"multivariate_feature_option"`
			} `json:"multivariate_feature_state_values"`
		} `json:"feature_states"`
	}
	require.NoError(t, json.Unmarshal(raw, &doc))
	for _, fs := range doc.FeatureStates {
		if fs.Feature.Name == flagKey {
			return docIDs{envKey: doc.APIKey, stateID: fs.DjangoID, mvID: fs.MV[0].ID, optionID: fs.MV[0].Option.ID}
		}
	}
	t.Fatal("no feature state")
	return docIDs{}
}

func storeRequests(w *world, from int) []fsfake.Request {
	var out []fsfake.Request
	for _, r := range w.fake.Requests()[from:] {
		if strings.HasPrefix(r.UserAgent, "progressive-flags") {
			out = append(out, r)
		}
	}
	return out
}

func TestWritesMatchTheAdminAPI(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	id := ids(t, w, "production")
	n := len(w.fake.Requests())
	require.NoError(t, w.store.SetRollout(ctx, ref("production"), progressive.PercentRollout("on", "off", 12.5)))
	reqs := storeRequests(w, n)
	require.Len(t, reqs, 2, "the environment document, then one PATCH")
	assert.Equal(t, "GET /api/v1/environment-document/", reqs[0].Method+" "+reqs[0].Path)
	assert.True(t, reqs[0].SDK, "read with the server-side key")
	assert.Equal(t, "PATCH /api/v1/environments/"+id.envKey+"/featurestates/"+itoa(id.stateID)+"/", reqs[1].Method+" "+reqs[1].Path)
	assert.True(t, reqs[1].Admin, `"Authorization: Api-Key <token>"`)
	assert.JSONEq(t, `{"multivariate_feature_state_values":[{"id":`+itoa(id.mvID)+`,"multivariate_feature_option":`+itoa(id.optionID)+`,"percentage_allocation":12.5}]}`, string(reqs[1].Body))

	n = len(w.fake.Requests())
	require.NoError(t, w.store.SetOn(ctx, ref("production"), true))
	reqs = storeRequests(w, n)
	require.Len(t, reqs, 2)
	assert.JSONEq(t, `{"enabled":true}`, string(reqs[1].Body))

	// The SDK evaluates the change at once.
	v, err := w.store.Evaluate(ctx, ref("production"), "someone", nil)
	require.NoError(t, err)
	assert.NotEmpty(t, v.Name)
	st, err := flags.Read(ctx, w.store, ref("production"), "on")
	require.NoError(t, err)
	assert.Equal(t, 12.5, st.Serving)
	other, err := flags.Read(ctx, w.store, ref("staging"), "on")
	require.NoError(t, err)
	assert.Zero(t, other.Percent, "staging untouched")
}

func TestRulesNeedSegments(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	n := len(w.fake.Requests())
	err := w.store.SetRules(ctx, ref("production"), []progressive.FlagRule{flags.AttributeRule("country", "on", "DE")})
	require.ErrorIs(t, err, progressive.ErrUnsupported)
	assert.Contains(t, err.Error(), "through segments: define a segment")
	assert.Empty(t, storeRequests(w, n))

	// The geography, as a Flagsmith segment.
	require.NoError(t, w.store.SetOn(ctx, ref("production"), true))
	require.NoError(t, flags.SetRules(ctx, w.store, ref("production"), []progressive.FlagRule{flags.SegmentRule("germany", "on"), flags.SegmentRule("beta-testers", "on")}))
	got, err := w.evaluate(ctx, ref("production"), "hans", map[string]string{"country": "DE"})
	require.NoError(t, err)
	assert.Equal(t, "on", got)
	got, err = w.evaluate(ctx, ref("production"), "john", map[string]string{"country": "US"})
	require.NoError(t, err)
	assert.Equal(t, "off", got)
	f, err := w.store.GetFlag(ctx, ref("production"))
	require.NoError(t, err)
	require.Len(t, f.Rules, 2)
	assert.Equal(t, "germany", f.Rules[0].Segment)
	assert.Equal(t, "beta-testers", f.Rules[1].Segment)

	// Reordered: priorities follow.
	require.NoError(t, flags.SetRules(ctx, w.store, ref("production"), []progressive.FlagRule{flags.SegmentRule("beta-testers", "off"), flags.SegmentRule("germany", "on")}))
	f, err = w.store.GetFlag(ctx, ref("production"))
	require.NoError(t, err)
	require.Len(t, f.Rules, 2)
	assert.Equal(t, "beta-testers", f.Rules[0].Segment)
	assert.Equal(t, "control", f.Rules[0].Variation)

	err = flags.SetRules(ctx, w.store, ref("production"), []progressive.FlagRule{flags.SegmentRule("germany", "on"), flags.SegmentRule("germany", "off")})
	assert.ErrorIs(t, err, progressive.ErrInvalid)
}

func TestOptionsAndReadOnly(t *testing.T) {
	_, err := flagsmith.New(flagsmith.Options{Environments: []flagsmith.Environment{{Name: "production", ServerKey: "abc123"}}})
	require.ErrorIs(t, err, progressive.ErrInvalid, "a client-side key would make the SDK panic")
	assert.Contains(t, err.Error(), `starting with "ser."`)
	assert.NotContains(t, err.Error(), "abc123")

	w := newWorld(t, func(o *flagsmith.Options) { o.APIToken = "" })
	ctx := context.Background()
	_, err = w.store.GetFlag(ctx, ref("production"))
	require.NoError(t, err, "reads need no Admin token")
	err = w.store.SetOn(ctx, ref("production"), true)
	require.ErrorIs(t, err, progressive.ErrUnsupported)
	assert.Contains(t, err.Error(), "no Admin API token")
	require.ErrorIs(t, flags.SetTargets(ctx, w.store, ref("production"), "on", []string{"a"}), progressive.ErrUnsupported)
}

func TestFaults(t *testing.T) {
	ctx := context.Background()
	t.Run("401 and 403 are clear and not retried", func(t *testing.T) {
		for _, status := range []int{401, 403} {
			w := newWorld(t)
			n := len(w.fake.Requests())
			w.fake.FailNextAfter(1, status) // the document read passes, the PATCH is refused
			err := w.store.SetOn(ctx, ref("production"), true)
			require.ErrorIs(t, err, flaghttp.ErrAuth)
			assert.False(t, progressive.IsTransient(err))
			assert.Len(t, storeRequests(w, n), 2, "not retried")
		}
	})
	t.Run("429 honours Retry-After on the injected clock", func(t *testing.T) {
		fc := testingclock.NewFakeClock(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
		w := newWorld(t, func(o *flagsmith.Options) { o.Clock = fc })
		w.fake.FailNext(1, 429, map[string]string{"Retry-After": "3"})
		done := make(chan error, 1)
		go func() {
			done <- w.store.SetRollout(ctx, ref("production"), progressive.PercentRollout("on", "off", 10))
		}()
		require.Eventually(t, fc.HasWaiters, 5*time.Second, time.Millisecond)
		fc.Step(3*time.Second - time.Millisecond)
		select {
		case err := <-done:
			t.Fatalf("retried before the Retry-After: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
		// The Retry-After in full, and the jitter added to it (at most half of
		// Backoff, 1ms here).
		fc.Step(2 * time.Millisecond)
		require.NoError(t, <-done)
		assert.Equal(t, 1, w.fake.Writes())
	})
	t.Run("5xx: bounded retries, then ErrTransient and nothing applied", func(t *testing.T) {
		w := newWorld(t, func(o *flagsmith.Options) { o.Attempts = 3 })
		for range 3 {
			w.fake.FailNextAfter(1, 500) // every PATCH fails
		}
		err := w.store.SetRollout(ctx, ref("production"), progressive.PercentRollout("on", "off", 50))
		require.ErrorIs(t, err, progressive.ErrTransient)
		assert.Contains(t, err.Error(), "gave up after 3 attempts")
		assert.Zero(t, w.fake.Writes())
		st, err := flags.Read(ctx, w.store, ref("production"), "on")
		require.NoError(t, err)
		assert.Zero(t, st.Percent)
	})
	t.Run("targets part-way: the error says so and a second call finishes", func(t *testing.T) {
		w := newWorld(t)
		w.fake.FailNextAfter(4, 400) // doc, then alice (search, create, override), then bob's search fails
		err := flags.SetTargets(ctx, w.store, ref("production"), "on", []string{"alice", "bob"})
		require.ErrorIs(t, err, progressive.ErrInvalid)
		assert.Contains(t, err.Error(), "1 of 2 identity change(s) done; calling again finishes")
		require.NoError(t, flags.SetTargets(ctx, w.store, ref("production"), "on", []string{"alice", "bob"}))
		f, err := w.store.GetFlag(ctx, ref("production"))
		require.NoError(t, err)
		assert.Equal(t, []progressive.FlagTarget{{Variation: f.Variations[1].ID, Keys: []string{"alice", "bob"}}}, f.Targets)
	})
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
	w.fake.FailNextAfter(1, 401)
	collect(w.store.SetOn(ctx, ref("production"), true))
	w.fake.FailNext(4, 502, nil)
	collect(w.store.SetOn(ctx, ref("production"), true))
	_, err := w.store.GetFlag(ctx, progressive.FlagRef{Environment: "production", Key: "nope"})
	collect(err)
	bad := newWorld(t, func(o *flagsmith.Options) { o.Environments[1].ServerKey = "ser.wrong-key-0000" })
	_, err = bad.store.GetFlag(ctx, ref("production"))
	collect(err)
	require.Len(t, msgs, 4)
	all := strings.Join(msgs, "\n") + w.logs.String() + bad.logs.String()
	for _, secret := range []string{adminToken, serverKeys["staging"], serverKeys["production"], "ser.wrong-key-0000"} {
		assert.NotContains(t, all, secret)
	}
	assert.Contains(t, msgs[3], "401")
}

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}
