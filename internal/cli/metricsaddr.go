package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/agentops/progressive/rollout/telemetry"
)

// metricsServer serves the runner's collector (rollout/telemetry) while run
// drives a rollout, so that the dashboards and alerts a platform keeps on
// progressive_* series see a rollout driven from a pipeline too; its
// registry is the checklist's evidence that monitoring is ready.
type metricsServer struct {
	registry *prometheus.Registry
	metrics  *telemetry.Metrics
	srv      *http.Server
	url      string
}

// serveMetrics listens on addr (host:port; port 0 picks one) before anything
// else happens, so that a taken or malformed address is invalid input.
func serveMetrics(addr string, stderr io.Writer) (*metricsServer, error) {
	m, err := telemetry.NewMetrics(telemetry.MetricsOptions{})
	if err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry()
	if err := m.Register(reg); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, invalidf("flag --metrics-addr %q: %v", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	s := &metricsServer{registry: reg, metrics: m, url: "http://" + ln.Addr().String() + "/metrics",
		srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}}
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			// Nothing to tell but the log: scraping is a convenience, the
			// rollout goes on without it.
			fmt.Fprintf(stderr, "metrics server on %s: %v\n", addr, err)
		}
	}()
	return s, nil
}

// close lets a last scrape finish, for a second at most.
func (s *metricsServer) close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = s.srv.Shutdown(ctx)
}
