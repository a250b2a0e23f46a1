package telemetry_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"k8s.io/client-go/tools/record"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/provider/sim"
	"github.com/agentops/progressive/rollout"
	"github.com/agentops/progressive/rollout/telemetry"
	"github.com/agentops/progressive/strategy"
)

// All three signals for one canary on the simulator: metrics on a Prometheus
// registry (controller-runtime's metrics.Registry works the same), spans to an
// OpenTelemetry SDK, and Kubernetes Events through a client-go recorder.
func Example() {
	ctx := context.Background()
	clk := testingclock.NewFakeClock(time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC))
	env := sim.New(sim.Options{Clock: clk})
	target := progressive.Target{Namespace: "shop", Name: "checkout"}
	_ = env.Metrics.SetProfile(target, sim.Profile{RequestRate: 1000})
	_ = env.Workload.AddService(target, sim.ServiceSpec{Replicas: 10, Version: "v1", Image: "checkout:v1"})

	metrics, err := telemetry.NewMetrics(telemetry.MetricsOptions{})
	if err != nil {
		panic(err)
	}
	reg := prometheus.NewRegistry()
	if err := metrics.Register(reg); err != nil {
		panic(err)
	}
	spans := tracetest.NewInMemoryExporter()
	traces := telemetry.NewTraces(telemetry.TraceOptions{Provider: sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))})
	recorder := record.NewFakeRecorder(100) // in a cluster: a broadcaster's recorder
	events, err := telemetry.NewKubeEvents(telemetry.KubeEventsOptions{Recorder: telemetry.CoreV1Recorder(recorder)})
	if err != nil {
		panic(err)
	}

	runner, err := rollout.New(rollout.Options{
		Providers: rollout.Providers{
			Routers:   []progressive.TrafficRouter{env.Router},
			Metrics:   []progressive.MetricSource{env.Metrics},
			Workloads: []progressive.Workload{env.Workload},
		},
		Clock:     clk,
		Observers: []rollout.Observer{metrics, traces, events},
	})
	if err != nil {
		panic(err)
	}
	plan, _ := strategy.Canary{
		Weights: []float64{10, 50, 100},
		Soak:    15 * time.Minute,
		Checks:  []progressive.Check{{Name: "error-rate", Query: "error_rate", Max: progressive.Float(1)}},
	}.Plan(target, progressive.Release{Version: "v2", Image: "checkout:v2"})
	st, err := runner.Start(ctx, plan)
	if err != nil {
		panic(err)
	}
	for {
		res, err := runner.Reconcile(ctx, st.ID)
		if err != nil {
			panic(err)
		}
		if res.Phase.Terminal() {
			break
		}
		clk.Step(res.RequeueAfter)
	}

	families, _ := reg.Gather()
	for _, f := range families {
		switch f.GetName() {
		case "progressive_rollout_phase", "progressive_rollout_decisions_total", "progressive_rollout_check_threshold":
			for _, m := range f.GetMetric() {
				var labels []string
				for _, l := range m.GetLabel() {
					if l.GetName() == "phase" || l.GetName() == "decision" || l.GetName() == "check" || l.GetName() == "bound" {
						labels = append(labels, l.GetName()+"="+l.GetValue())
					}
				}
				v := m.GetGauge().GetValue() + m.GetCounter().GetValue()
				if v != 0 {
					fmt.Printf("%s{%s} %g\n", f.GetName(), strings.Join(labels, ","), v)
				}
			}
		}
	}
	var names []string
	for _, s := range spans.GetSpans() {
		names = append(names, s.Name)
	}
	sort.Strings(names)
	fmt.Println("spans:", strings.Join(names, ", "))
	fmt.Println("first Event:", <-recorder.Events)
	// Output:
	// progressive_rollout_check_threshold{bound=max,check=error-rate} 1
	// progressive_rollout_decisions_total{decision=advance} 7
	// progressive_rollout_decisions_total{decision=promoted} 1
	// progressive_rollout_phase{phase=succeeded} 1
	// spans: rollout, step analyze, step analyze, step deploy, step finalize, step promote, step setWeight, step setWeight
	// first Event: Normal Started rollout started: v2 (checkout:v2)
}

// Registering twice, or where the names are taken, is an error to handle, not
// a panic: MetricsOptions.Namespace gives a second collector names of its own.
func ExampleMetrics_Register() {
	reg := prometheus.NewRegistry()
	first, _ := telemetry.NewMetrics(telemetry.MetricsOptions{})
	fmt.Println(first.Register(reg))
	second, _ := telemetry.NewMetrics(telemetry.MetricsOptions{})
	err := second.Register(reg)
	fmt.Println(errors.Is(err, progressive.ErrInvalid))
	other, _ := telemetry.NewMetrics(telemetry.MetricsOptions{Namespace: "staging"})
	fmt.Println(other.Register(reg))
	// Output:
	// <nil>
	// true
	// <nil>
}
