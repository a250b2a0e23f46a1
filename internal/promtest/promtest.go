package promtest

import (
	"context"
	"testing"

	"github.com/agentops/progressive/testkit/promtest"
)

// Types, all aliases, so values pass freely between the two packages.
type (
	App         = promtest.App
	Behavior    = promtest.Behavior
	Service     = promtest.Service
	ServiceSpec = promtest.ServiceSpec
	IstioNames  = promtest.IstioNames
	Options     = promtest.Options
	Server      = promtest.Server
)

// Constants, with the values of testkit/promtest's.
const (
	DefaultRPS            = promtest.DefaultRPS
	DefaultLatency        = promtest.DefaultLatency
	DefaultCPU            = promtest.DefaultCPU
	CPULimitCores         = promtest.CPULimitCores
	StableVersion         = promtest.StableVersion
	EnvPrometheus         = promtest.EnvPrometheus
	EnvPromtool           = promtest.EnvPromtool
	DefaultScrapeInterval = promtest.DefaultScrapeInterval
	DefaultReadyTimeout   = promtest.DefaultReadyTimeout
)

// ErrNoBinary is promtest.ErrNoBinary (the same value, for errors.Is).
var ErrNoBinary = promtest.ErrNoBinary

// NewApp forwards to promtest.NewApp.
func NewApp() *App { return promtest.NewApp() }

// New starts a Prometheus as promtest.New does, bounded by its ReadyTimeout
// alone (the old signature had no context).
func New(opts Options) (*Server, error) { return promtest.New(context.Background(), opts) }

// Start forwards to promtest.Start.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	return promtest.Start(t, opts)
}

// Check forwards to promtest.Check.
func Check(t testing.TB, err error) {
	t.Helper()
	promtest.Check(t, err)
}

// Binary forwards to promtest.Binary.
func Binary(name string) (string, error) { return promtest.Binary(name) }

// Backfill forwards to promtest.Backfill.
func Backfill(t testing.TB, openMetrics string) string {
	t.Helper()
	return promtest.Backfill(t, openMetrics)
}

// BackfillDir forwards to promtest.BackfillDir.
func BackfillDir(ctx context.Context, parent, openMetrics string) (string, error) {
	return promtest.BackfillDir(ctx, parent, openMetrics)
}
