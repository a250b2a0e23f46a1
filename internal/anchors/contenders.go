package anchors

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/agentops/progressive/internal/livecanary"
)

// Binaries are the built controllers.
type Binaries struct {
	Flagger, ArgoRollouts string
}

// BuildAll builds (or finds built) every tool.
func BuildAll(ctx context.Context, log *slog.Logger) (Binaries, error) {
	var b Binaries
	var err error
	if b.Flagger, err = Build(ctx, Flagger(), log); err != nil {
		return b, err
	}
	if b.ArgoRollouts, err = Build(ctx, ArgoRollouts(), log); err != nil {
		return b, err
	}
	return b, nil
}

// Contenders are the table's rows, each tool with its documented defaults
// and then its one tuning.
func Contenders(a *Anchors, bins Binaries) []Contender {
	return []Contender{
		NewFlagger(a, bins.Flagger, FlaggerDefaults()),
		NewFlagger(a, bins.Flagger, FlaggerTuned()),
		NewArgo(a, bins.ArgoRollouts, ArgoDefaults()),
		NewArgo(a, bins.ArgoRollouts, ArgoTuned()),
		NewProgressive(a, ProgressiveDefaults()),
		NewProgressive(a, ProgressiveTuned()),
	}
}

// Manifester is a contender that can describe what it seeds and runs with,
// printed under the table.
type Manifester interface {
	Manifest() string
}

// Manifest describes the Canary and the controller's flags.
func (f *FlaggerContender) Manifest() string {
	return fmt.Sprintf("flagger -mesh-provider=istio -metrics-server=<Prometheus> -namespace=<run's> (one controller per run, other flags at their defaults: control loop 10s, no leader election); "+
		"Canary: targetRef Deployment, service.port 80, progressDeadlineSeconds 60, analysis {interval %s, threshold %d, stepWeight %d, maxWeight %d, "+
		"metrics [request-success-rate: thresholdRange.min %g, interval %s]} (Flagger's built-in Istio query on istio_requests_total, reporter=destination)",
		f.s.Interval, f.s.Threshold, f.s.StepWeight, f.s.MaxWeight, f.s.MinSuccessRate, f.s.MetricInterval)
}

// Manifest describes the plan and the driver.
func (p *ProgressiveContender) Manifest() string {
	lease := "default Lease (15s/10s/2s)"
	if p.s.Lease.LeaseDuration > 0 {
		lease = fmt.Sprintf("Lease %s/%s/%s", p.s.Lease.LeaseDuration, p.s.Lease.RenewDeadline, p.s.Lease.RetryPeriod)
	}
	return fmt.Sprintf("strategy.Canary{StepWeight: 10, MaxWeight: 50, Soak: 10s} with livecanary's error-rate check "+
		"(http_requests_total 5xx ratio <= 2%% over 10s, every 10s, min samples %g, inconclusive limit 3), rollout.New's defaults, %s; "+
		"one driver process per rollout (kubernetes.RunWithLease), restarted by the harness as a supervisor would",
		minSamples(), lease)
}

func minSamples() float64 {
	c := livecanary.ErrorRateCheck()
	if c.Samples == nil {
		return 0
	}
	return c.Samples.Min
}

// RunTimeout bounds a run, setup included: every contender's Bound (at most
// 6 minutes from the trigger) plus seeding and the controller's start.
const RunTimeout = 12 * time.Minute
