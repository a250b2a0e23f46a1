package anchors

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
)

// argoStatus is what a Rollout's status says, as a watch saw it.
type argoStatus struct {
	At             time.Time
	Phase, Message string
	// Abort is set when the update was aborted (a failed or errored
	// analysis): Argo then routes everything to stable and reports Degraded.
	Abort                    bool
	StableRS, CurrentPodHash string
	StepIndex                int64 // -1 without one
	// Analysis is the background AnalysisRun's name, status and message.
	Analysis string
}

func parseArgoStatus(u *unstructured.Unstructured, at time.Time) argoStatus {
	str := func(f ...string) string { s, _, _ := unstructured.NestedString(u.Object, f...); return s }
	s := argoStatus{At: at, Phase: str("status", "phase"), Message: str("status", "message"),
		StableRS: str("status", "stableRS"), CurrentPodHash: str("status", "currentPodHash"), StepIndex: -1}
	s.Abort, _, _ = unstructured.NestedBool(u.Object, "status", "abort")
	if i, ok, _ := unstructured.NestedInt64(u.Object, "status", "currentStepIndex"); ok {
		s.StepIndex = i
	}
	if ar := str("status", "canary", "currentBackgroundAnalysisRunStatus", "name"); ar != "" {
		s.Analysis = strings.TrimSpace(ar + " " + str("status", "canary", "currentBackgroundAnalysisRunStatus", "status") + " " +
			str("status", "canary", "currentBackgroundAnalysisRunStatus", "message"))
	}
	return s
}

// same reports whether o says what s says (the time aside).
func (s argoStatus) same(o argoStatus) bool { s.At = o.At; return s == o }

// String is a one-line summary for notes and logs.
func (s argoStatus) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s", s.Phase)
	if s.Abort {
		b.WriteString(" (aborted)")
	}
	if s.StepIndex >= 0 {
		fmt.Fprintf(&b, " step %d", s.StepIndex)
	}
	if s.Message != "" {
		fmt.Fprintf(&b, ": %s", s.Message)
	}
	if s.Analysis != "" {
		fmt.Fprintf(&b, " [analysis %s]", s.Analysis)
	}
	return b.String()
}

// brief is the phase and message, without the analysis (reported apart).
func (s argoStatus) brief() string {
	b := s.Phase
	if s.Abort {
		b += " (aborted)"
	}
	if s.Message != "" {
		b += ": " + s.Message
	}
	return b
}

// promoted reports whether the rollout runs the release that replaced
// fromHash, fully: Healthy, with the stable ReplicaSet the current one.
func (s argoStatus) promoted(fromHash string) bool {
	return s.Phase == "Healthy" && s.CurrentPodHash != "" && s.CurrentPodHash != fromHash && s.StableRS == s.CurrentPodHash
}

// argoRollouts follows the Rollouts of a namespace with a watch and keeps
// every distinct status each one showed.
type argoRollouts struct {
	dyn dynamic.Interface
	ns  string
	log *slog.Logger

	mu      sync.Mutex
	history map[string][]argoStatus
	changed chan struct{} // closed and replaced at every change
}

// followArgoRollouts starts following the Rollouts of ns until ctx ends.
func followArgoRollouts(ctx context.Context, dyn dynamic.Interface, ns string, log *slog.Logger) *argoRollouts {
	r := &argoRollouts{dyn: dyn, ns: ns, log: log, history: map[string][]argoStatus{}, changed: make(chan struct{})}
	go r.run(ctx)
	return r
}

func (r *argoRollouts) run(ctx context.Context) {
	for ctx.Err() == nil {
		wi, err := r.dyn.Resource(argoRolloutGVR).Namespace(r.ns).Watch(ctx, metav1.ListOptions{})
		if err != nil {
			r.log.Debug("Rollout watch", slog.String("error", err.Error()))
			sleep(ctx, 100*time.Millisecond)
			continue
		}
		for ev := range wi.ResultChan() {
			if ev.Type != watch.Added && ev.Type != watch.Modified {
				continue
			}
			if u, ok := ev.Object.(*unstructured.Unstructured); ok {
				r.observe(u.GetName(), parseArgoStatus(u, time.Now()))
			}
		}
		wi.Stop()
	}
}

func (r *argoRollouts) observe(name string, s argoStatus) {
	r.mu.Lock()
	defer r.mu.Unlock()
	h := r.history[name]
	if n := len(h); n > 0 && h[n-1].same(s) {
		return
	}
	r.history[name] = append(h, s)
	close(r.changed)
	r.changed = make(chan struct{})
	r.log.Debug("Rollout status", slog.String("namespace", r.ns), slog.String("rollout", name), slog.String("status", s.String()))
}

// History returns the statuses the rollout showed, in order.
func (r *argoRollouts) History(name string) []argoStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]argoStatus(nil), r.history[name]...)
}

// Last is the rollout's latest status (zero before the first).
func (r *argoRollouts) Last(name string) argoStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	h := r.history[name]
	if len(h) == 0 {
		return argoStatus{StepIndex: -1}
	}
	return h[len(h)-1]
}

// WaitFor waits until the rollout's latest status satisfies ok and returns
// it.
func (r *argoRollouts) WaitFor(ctx context.Context, name string, ok func(argoStatus) bool) (argoStatus, error) {
	for {
		r.mu.Lock()
		ch := r.changed
		h := r.history[name]
		r.mu.Unlock()
		if n := len(h); n > 0 && ok(h[n-1]) {
			return h[n-1], nil
		}
		select {
		case <-ctx.Done():
			last := "no status yet"
			if n := len(h); n > 0 {
				last = h[n-1].String()
			}
			return argoStatus{}, fmt.Errorf("anchors: Rollout %s/%s (%s): %w", r.ns, name, last, ctx.Err())
		case <-ch:
		}
	}
}

// argoAnalysisReport summarises the AnalysisRuns of a rollout, which is
// what Argo reported about the canary: each run's phase and its metric's
// measurements (the last ones Argo keeps), "Error" for a measurement that
// could not be evaluated (an empty result, say), or the phase and value.
// The run's message is left out: an abort's is the Rollout's message.
func argoAnalysisReport(ctx context.Context, dyn dynamic.Interface, ns, rollout string) ([]string, error) {
	list, err := dyn.Resource(argoAnalysisRunGVR).Namespace(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("argo: AnalysisRuns of %s/%s: %w", ns, rollout, err)
	}
	items := list.Items
	sort.Slice(items, func(i, j int) bool {
		return items[i].GetCreationTimestamp().Time.Before(items[j].GetCreationTimestamp().Time)
	})
	var out []string
	for _, ar := range items {
		owned := false
		for _, o := range ar.GetOwnerReferences() {
			owned = owned || (o.Kind == "Rollout" && o.Name == rollout)
		}
		if !owned {
			continue
		}
		phase, _, _ := unstructured.NestedString(ar.Object, "status", "phase")
		line := "AnalysisRun " + phase
		results, _, _ := unstructured.NestedSlice(ar.Object, "status", "metricResults")
		for _, r := range results {
			m, ok := r.(map[string]any)
			if !ok {
				continue
			}
			ms, _, _ := unstructured.NestedSlice(m, "measurements")
			var seq []string
			for _, x := range ms {
				mx, ok := x.(map[string]any)
				if !ok {
					continue
				}
				s := fmt.Sprint(mx["phase"])
				if v, ok := mx["value"].(string); ok && v != "" {
					s += " " + compactValue(v)
				}
				seq = append(seq, s)
			}
			line += fmt.Sprintf("; %v measurements: %s", m["name"], strings.Join(seq, ", "))
		}
		out = append(out, line)
	}
	return out, nil
}

// compactValue shortens the numbers of a measurement's value ("[0.0037037037]"
// reads "[0.0037]").
func compactValue(v string) string {
	inner := strings.TrimSuffix(strings.TrimPrefix(v, "["), "]")
	var parts []string
	for p := range strings.SplitSeq(inner, ",") {
		if f, err := strconv.ParseFloat(strings.TrimSpace(p), 64); err == nil {
			p = strconv.FormatFloat(f, 'g', 3, 64)
		}
		parts = append(parts, p)
	}
	if strings.HasPrefix(v, "[") {
		return "[" + strings.Join(parts, ",") + "]"
	}
	return strings.Join(parts, ",")
}
