package timeline_test

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/agentops/progressive/analysis"
	"github.com/agentops/progressive/rollout"
	"github.com/agentops/progressive/rollout/timeline"
)

// exampleRecord is a short canary: 20% of traffic, two measurements, promoted.
func exampleRecord() rollout.DecisionRecord {
	start := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	return rollout.DecisionRecord{
		ID:       "shop-checkout-v2",
		Context:  rollout.RecordContext{Service: "shop/checkout", Strategy: "canary"},
		Solution: rollout.Solution{Checks: []string{"error-rate <= 1 every 1m, fails after 1 failed measurement(s)"}},
		Observations: []analysis.Measurement{
			{Check: "error-rate", Time: start.Add(time.Minute), Value: 0.2, Outcome: analysis.OutcomePass},
			{Check: "error-rate", Time: start.Add(2 * time.Minute), Value: 0.3, Outcome: analysis.OutcomePass},
		},
		Decisions: []rollout.Decision{
			{Time: start, Action: "route", Reason: "routes set: 80% stable / 20% canary"},
			{Time: start.Add(2 * time.Minute), Action: "promoted", Reason: "all steps completed"},
		},
		Impact: rollout.Impact{Outcome: rollout.OutcomePromoted, StartedAt: start, FinishedAt: start.Add(2 * time.Minute)},
	}
}

// SVG writes the picture alone, for embedding in a report or a chat message.
func ExampleSVG() {
	var b bytes.Buffer
	if err := timeline.SVG(&b, exampleRecord(), timeline.Options{Width: 800}); err != nil {
		fmt.Println(err)
		return
	}
	first, _, _ := strings.Cut(b.String(), "\n")
	fmt.Println(first)
	fmt.Println(strings.Count(b.String(), `<g class="decision"`), "decision markers")
	// Output:
	// <svg xmlns="http://www.w3.org/2000/svg" class="timeline" width="800" height="502.0" viewBox="0 0 800 502.0" role="img" aria-labelledby="timeline-title timeline-desc" font-family="sans-serif" font-size="12">
	// 2 decision markers
}

// HTML writes a page to open in a browser: the picture and the decisions,
// checks and learning as text.
func ExampleHTML() {
	path := filepath.Join(os.TempDir(), "shop-checkout-v2.html")
	f, err := os.Create(path)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.Remove(path)
	err = timeline.HTML(f, exampleRecord(), timeline.Options{})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		fmt.Println(err)
		return
	}
	f, err = os.Open(path)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "<li id=\"decision-") {
			fmt.Println(sc.Text())
		}
	}
	// Output:
	// <li id="decision-1" class="route"><time datetime="2026-11-26T09:00:00Z">09:00:00</time> <span class="action">route</span>: routes set: 80% stable / 20% canary</li>
	// <li id="decision-2" class="promoted"><time datetime="2026-11-26T09:02:00Z">09:02:00</time> <span class="action">promoted</span>: all steps completed</li>
}
