package metrictest_test

import (
	"context"
	"net"
	"sync"
	"testing"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/provider/prometheus"
	"github.com/agentops/progressive/testkit/metrictest"
	"github.com/agentops/progressive/testkit/promtest"
)

// TestPrometheus runs the suite against provider/prometheus and a real
// Prometheus started by testkit/promtest (skipped without the binary outside
// CI, failed under CI=true). PromQL gives every kind of answer without any
// scraped data: vector(42) a value, an unknown metric no data, 0/0 NaN, a
// truncated expression a parse error, and two labelled vectors several series.
func TestPrometheus(t *testing.T) {
	var (
		once sync.Once
		srv  *promtest.Server
		err  error
	)
	t.Cleanup(func() {
		if srv != nil {
			srv.Stop()
		}
	})
	several := progressive.Query{Expr: `label_replace(vector(1), "side", "a", "", "") or label_replace(vector(2), "side", "b", "", "")`}
	metrictest.Run(t, func(t *testing.T) metrictest.Setup {
		once.Do(func() { srv, err = promtest.New(context.Background(), promtest.Options{}) })
		promtest.Check(t, err)
		src, err := prometheus.New(prometheus.Options{Address: srv.URL})
		if err != nil {
			t.Fatal(err)
		}
		return metrictest.Setup{
			Source:        src,
			Value:         progressive.Query{Expr: "vector(42)"},
			Want:          42,
			NoData:        progressive.Query{Expr: `metrictest_no_such_series{service="checkout"}`},
			NaN:           progressive.Query{Expr: "vector(0) / 0"},
			Invalid:       progressive.Query{Expr: "sum(rate(http_requests_total[1m]"},
			SeveralSeries: &several,
			Down: func(t *testing.T) progressive.MetricSource {
				// A port that was free a moment ago: nothing listens there.
				l, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				addr := l.Addr().String()
				_ = l.Close()
				down, err := prometheus.New(prometheus.Options{Address: "http://" + addr})
				if err != nil {
					t.Fatal(err)
				}
				return down
			},
		}
	})
}
