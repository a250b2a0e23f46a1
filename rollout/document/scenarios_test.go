package document_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/provider/sim"
	"github.com/agentops/progressive/rollout"
	"github.com/agentops/progressive/rollout/document"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	testingclock "k8s.io/utils/clock/testing"
)

// webhookSink counts the webhook calls of the scenarios: the documents name
// their Slack URLs by urlFrom, and the test resolves them to this server.
type webhookSink struct {
	mu    sync.Mutex
	calls map[string]int
	srv   *httptest.Server
}

func newSink(t *testing.T) *webhookSink {
	s := &webhookSink{calls: map[string]int{}}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.calls[r.URL.Path]++
		s.mu.Unlock()
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *webhookSink) count(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[path]
}

// resolver answers every env reference with a URL of the sink named after it.
func (s *webhookSink) resolver() document.Resolver {
	return document.ResolverFunc(func(_ context.Context, ref document.ValueFrom) (string, error) {
		return s.srv.URL + "/" + ref.Env, nil
	})
}

// TestSeedScenarios: each document of examples/documents decodes, validates,
// and runs to its end on the simulator, driven by a fake clock: the guide's
// payment-service canary, order-management blue-green, payment_gateway_v2
// flag rollout and content-api rolling update.
func TestSeedScenarios(t *testing.T) {
	cases := map[string]struct {
		file      string
		setup     func(t *testing.T, env *sim.Env, target progressive.Target)
		strategy  string
		minTime   time.Duration
		postHooks string // the env name of a post-rollout webhook, when it has one
	}{
		"payment-service canary": {
			file: "payment-service-canary.yaml", strategy: progressive.StrategyCanary, minTime: 30 * time.Minute,
			setup: service(10, "v1.9.0"),
		},
		"order-management blue-green": {
			file: "order-management-blue-green.yaml", strategy: progressive.StrategyBlueGreen, minTime: 75 * time.Minute,
			setup: service(10, "v3.0.4"), postHooks: "SLACK_DEPLOYMENTS_URL",
		},
		"payment_gateway_v2 flag rollout": {
			file: "payment-gateway-v2-flag.yaml", strategy: progressive.StrategyFlagRollout, minTime: 96 * time.Hour,
			setup: func(t *testing.T, env *sim.Env, target progressive.Target) {
				service(10, "v5.0.0")(t, env, target)
				ref := progressive.FlagRef{Project: "payments", Environment: "production", Key: "payment_gateway_v2"}
				require.NoError(t, env.Flags.AddFlag(progressive.Flag{
					Ref:          ref,
					Variations:   []progressive.Variation{{ID: "off", Name: "off", Value: false}, {ID: "on", Name: "on", Value: true}},
					OffVariation: "off",
					Fallthrough:  progressive.PercentRollout("off", "on", 100),
				}))
				env.Flags.AddSegment("beta-testers", "tester-1", "tester-2")
				require.NoError(t, env.Metrics.BindFlag(target, env.Flags, ref, "on"))
			},
		},
		"content-api rolling": {
			file: "content-api-rolling.yaml", strategy: progressive.StrategyRolling, minTime: 9 * 30 * time.Second,
			setup: service(30, "v4.1.3"),
		},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			text, err := os.ReadFile(filepath.Join("..", "..", "examples", "documents", c.file))
			require.NoError(t, err)
			doc, err := document.Decode(text)
			require.NoError(t, err)
			require.NoError(t, doc.Validate())

			sink := newSink(t)
			plan, err := doc.Plan(context.Background(), document.WithResolver(sink.resolver()))
			require.NoError(t, err)
			assert.Equal(t, c.strategy, plan.Strategy)
			assert.Equal(t, doc.Metadata.Name, plan.Name)

			start := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
			clk := testingclock.NewFakeClock(start)
			env := sim.New(sim.Options{Clock: clk, Seed: 42})
			c.setup(t, env, plan.Target)
			gates := rollout.NewGates()
			var ran []string
			hook := func(name string) rollout.Hook {
				return rollout.HookFunc(func(context.Context, rollout.HookRequest) error { ran = append(ran, name); return nil })
			}
			runner, err := rollout.New(rollout.Options{
				Providers: rollout.Providers{
					Routers:   []progressive.TrafficRouter{env.Router},
					Metrics:   []progressive.MetricSource{env.Metrics},
					Workloads: []progressive.Workload{env.Workload},
					Flags:     []progressive.FlagStore{env.Flags},
					Hooks:     map[string]rollout.Hook{"migrate-add-column": hook("migrate"), "smoke-tests": hook("smoke")},
					Approver:  gates,
				},
				Clock:      clk,
				HTTPClient: sink.srv.Client(),
			})
			require.NoError(t, err)
			require.NoError(t, runner.Validate(plan), "the runner accepts the document's plan with the simulator's providers")

			ctx := context.Background()
			st, err := runner.Start(ctx, plan)
			require.NoError(t, err)
			gates.Approve(st.ID, "release-manager", "the migration and smoke tests passed")
			for calls := 0; ; calls++ {
				require.Less(t, calls, 20000, "the rollout never ended")
				res, err := runner.Reconcile(ctx, st.ID)
				require.NoError(t, err)
				if res.Phase.Terminal() {
					break
				}
				clk.Step(res.RequeueAfter)
			}
			rec, err := runner.Record(ctx, st.ID)
			require.NoError(t, err)
			assert.Equal(t, rollout.OutcomePromoted, rec.Impact.Outcome, "%v", rec.Decisions)
			assert.GreaterOrEqual(t, clk.Since(start), c.minTime, "every soak ran in virtual time")
			if len(plan.Checks) > 0 {
				assert.NotEmpty(t, rec.Observations, "checks were measured")
			} else {
				rs, err := env.Workload.RollStatus(ctx, plan.Target)
				require.NoError(t, err)
				assert.Equal(t, 30, rs.Updated, "every pod runs the new release: %+v", rs)
			}
			if c.postHooks != "" {
				assert.Equal(t, 1, sink.count("/"+c.postHooks), "the post-rollout webhook was called once")
			}
			if c.strategy == progressive.StrategyBlueGreen {
				assert.Equal(t, []string{"migrate", "smoke"}, ran, "migration first, then the smoke tests")
			}
		})
	}
}

func service(replicas int, version string) func(t *testing.T, env *sim.Env, target progressive.Target) {
	return func(t *testing.T, env *sim.Env, target progressive.Target) {
		require.NoError(t, env.Metrics.SetProfile(target, sim.Profile{RequestRate: 1200}))
		require.NoError(t, env.Workload.AddService(target, sim.ServiceSpec{Replicas: replicas, Version: version,
			Image: "registry.example.com/" + target.Name + ":" + version}))
	}
}
