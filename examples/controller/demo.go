package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
	"sync/atomic"
	"text/tabwriter"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/agentops/progressive"
	v1alpha1 "github.com/agentops/progressive/examples/controller/api/v1alpha1"
	shared "github.com/agentops/progressive/examples/k8s-shared"
	"github.com/agentops/progressive/internal/promtest"
	"github.com/agentops/progressive/metrics"
	k8s "github.com/agentops/progressive/provider/kubernetes"
)

// What the demo and the tests release: a Deployment of 3 pods, whose canary
// takes 25% then 50% of the traffic (1 then 3 canary pods beside the 3
// stable ones: the Kubernetes router's weights are pod ratios), measured
// every 500ms over 2s windows, on a Prometheus scraping every 500ms.
const (
	stableReplicas = 3
	stepWeight     = 25
	maxWeight      = 50
	checkInterval  = "500ms"
	checkWindow    = "2s"
	// scrapeInterval of the demo's and the tests' Prometheus.
	scrapeInterval = 500 * time.Millisecond
)

// canaryShare is the canary's share of the target's ready endpoints, which
// the test application splits its requests by: as kube-proxy follows the
// EndpointSlices, the canary receives traffic when the Service really selects
// its pods, not when the operator decides it should.
type canaryShare struct{ bits atomic.Uint64 }

// Percent is the share now, in percent.
func (s *canaryShare) Percent() float64 { return math.Float64frombits(s.bits.Load()) }

// followCanaryShare reads the target's routes with r every interval until ctx
// ends. Give it a router of its own provider, so that its reads are not
// counted as the operator's.
func followCanaryShare(ctx context.Context, r *k8s.Router, target progressive.Target, every time.Duration) *canaryShare {
	s := &canaryShare{}
	go func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			if routes, err := r.GetRoutes(ctx, target); err == nil {
				s.bits.Store(math.Float64bits(routes.CanaryWeight))
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// seed creates the target's Deployment and Service (the stable release,
// v1) and books its requests on app, split by the canary's real share of
// endpoints (read with reads, until ctx ends); canary is how the canary
// release answers.
func seed(ctx context.Context, cs kubernetes.Interface, reads *k8s.Router, app *promtest.App, target progressive.Target, canaryVersion string, canary promtest.Behavior) (*promtest.Service, error) {
	svc := shared.Service{Namespace: target.Namespace, Name: target.Name, Replicas: stableReplicas, Image: image(target.Name, "v1")}
	if err := shared.Ensure(ctx, cs, svc); err != nil {
		return nil, fmt.Errorf("seed %s: %w", target, err)
	}
	share := followCanaryShare(ctx, reads, target, 100*time.Millisecond)
	return app.Service(promtest.ServiceSpec{
		Namespace: target.Namespace, Name: target.Name, CanaryVersion: canaryVersion,
		CanaryShare: share.Percent, Canary: canary,
	}), nil
}

func image(name, version string) string { return "registry.example/" + name + ":" + version }

// newRollout is a ProgressiveRollout of target to version, soaking soak at
// each weight, with the application's error rate (at most 1%) and p95
// latency (at most 500 ms) as checks.
func newRollout(ns, name, target, version string, soak time.Duration) *v1alpha1.ProgressiveRollout {
	app := metrics.App{Window: checkWindow}
	return &v1alpha1.ProgressiveRollout{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1alpha1.ProgressiveRolloutSpec{
			Target:  v1alpha1.Target{Name: target},
			Release: v1alpha1.Release{Version: version, Image: image(target, version)},
			Canary:  v1alpha1.Canary{StepWeight: stepWeight, MaxWeight: maxWeight, Soak: soak.String()},
			Checks: []v1alpha1.Check{
				{Name: "error-rate", Query: app.ErrorRate(1).Query, Max: progressive.Float(1), Interval: checkInterval},
				{Name: "latency-p95", Query: app.LatencyP95(500).Query, Max: progressive.Float(500), Interval: checkInterval},
			},
		},
	}
}

// row is one ProgressiveRollout as `kubectl get progressiverollouts -o wide`
// shows it: the cells the API server rendered from the CRD's printer
// columns, by column name.
type row map[string]string

func (r row) String() string {
	return fmt.Sprintf("%s %s %s weight=%s step=%s", r["Name"], r["Version"], r["Phase"], r["Weight"], r["Step"])
}

// getTable reads the ProgressiveRollouts of ns the way kubectl get does: as
// a meta.k8s.io Table, whose columns the API server renders from the CRD's
// additionalPrinterColumns.
func getTable(ctx context.Context, cs kubernetes.Interface, ns string) ([]metav1.TableColumnDefinition, []row, error) {
	raw, err := cs.CoreV1().RESTClient().Get().
		AbsPath("/apis", v1alpha1.Group, v1alpha1.Version, "namespaces", ns, v1alpha1.Resource).
		SetHeader("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io").
		DoRaw(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("get %s as a table: %w", v1alpha1.Resource, err)
	}
	var t metav1.Table
	if err := json.Unmarshal(raw, &t); err != nil {
		return nil, nil, fmt.Errorf("table: %w", err)
	}
	rows := make([]row, 0, len(t.Rows))
	for _, r := range t.Rows {
		cells := row{}
		for i, c := range t.ColumnDefinitions {
			if i < len(r.Cells) && r.Cells[i] != nil {
				cells[c.Name] = fmt.Sprint(r.Cells[i])
			} else {
				cells[c.Name] = "<none>"
			}
		}
		rows = append(rows, cells)
	}
	return t.ColumnDefinitions, rows, nil
}

// printTable prints rows under the columns kubectl shows without -o wide.
func printTable(out io.Writer, cols []metav1.TableColumnDefinition, rows []row, header bool) {
	tw := tabwriter.NewWriter(out, 0, 8, 3, ' ', 0)
	var names []string
	for _, c := range cols {
		if c.Priority == 0 {
			names = append(names, c.Name)
		}
	}
	if header {
		fmt.Fprintln(tw, strings.ToUpper(strings.Join(names, "\t")))
	}
	for _, r := range rows {
		cells := make([]string, len(names))
		for i, n := range names {
			cells[i] = r[n]
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	_ = tw.Flush()
}
