package prometheus_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/analysis"
	"github.com/agentops/progressive/metrics"
	"github.com/agentops/progressive/provider/prometheus"
)

var analysisStart = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// A check's query is rendered for the canary and answered with one number, no
// data, NaN or an error that says whether to fix the configuration or wait. (An
// httptest server stands in for Prometheus here.)
func Example() {
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = r.ParseForm()
		switch q := r.Form.Get("query"); {
		case q == "up{":
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"status":"error","errorType":"bad_data","error":"1:4: parse error: unexpected end of input"}`)
		case r.Form.Get("time") == "":
			_, _ = io.WriteString(w, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1772366400,"0.42"]}]}}`)
		default:
			_, _ = io.WriteString(w, `{"status":"success","data":{"resultType":"vector","result":[]}}`)
		}
	}))
	defer fake.Close()

	src, err := prometheus.New(prometheus.Options{Address: fake.URL, BearerToken: "not-in-any-message"})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	check := metrics.ErrorRate(1)
	expr, _ := analysis.Render(check, analysis.Vars{Namespace: "shop", Service: "checkout", CanaryVersion: "v2", StableVersion: "stable"}, progressive.Canary)

	res, _ := src.Query(ctx, progressive.Query{Name: check.Name, Expr: expr})
	fmt.Printf("now: %s %.2f%%\n", res.Status, res.Value)

	res, _ = src.Query(ctx, progressive.Query{Name: check.Name, Expr: expr, Time: analysisStart})
	fmt.Println("before the canary had traffic:", res.Status)

	_, err = src.Query(ctx, progressive.Query{Name: "typo", Expr: "up{"})
	fmt.Println("a typo is a configuration error:", progressive.IsInvalid(err))
	// Output:
	// now: value 0.42%
	// before the canary had traffic: no-data
	// a typo is a configuration error: true
}
