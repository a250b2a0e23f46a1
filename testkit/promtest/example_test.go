package promtest_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/agentops/progressive/testkit/promtest"
)

// The application books its services' traffic on the metrics Prometheus
// scrapes: here a canary taking 10% of the requests, every one of them an
// error.
func ExampleNewApp() {
	app := promtest.NewApp()
	defer app.Close()
	app.Service(promtest.ServiceSpec{
		Namespace: "shop", Name: "checkout", CanaryVersion: "v2",
		CanaryShare: func() float64 { return 10 },
		Canary:      promtest.Behavior{ErrorPercent: 100},
	})
	time.Sleep(500 * time.Millisecond) // a few bookings (one every 50ms)
	resp, err := http.Get("http://" + app.Addr() + "/metrics")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, series := range []string{
		`http_requests_total{code="200",namespace="shop",service="checkout",version="stable"}`,
		`http_requests_total{code="500",namespace="shop",service="checkout",version="v2"}`,
		`http_requests_total{code="200",namespace="shop",service="checkout",version="v2"}`,
	} {
		fmt.Println(strings.Contains(string(body), series), series)
	}
	// Output:
	// true http_requests_total{code="200",namespace="shop",service="checkout",version="stable"}
	// true http_requests_total{code="500",namespace="shop",service="checkout",version="v2"}
	// false http_requests_total{code="200",namespace="shop",service="checkout",version="v2"}
}

// A Prometheus outside a test; tests use Start, which skips without the binary
// (or fails under CI=true) and stops it when the test ends.
func ExampleNew() {
	ctx := context.Background()
	srv, err := promtest.New(ctx, promtest.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Stop()
	n, value, err := srv.Query(ctx, "vector(42)", time.Time{})
	fmt.Println(n, value, err)
}
