// Command flag-rollout rehearses the guide's feature-flag rollouts against
// LaunchDarkly and Flagsmith, with no account and no network: each service is a
// local fake (provider/launchdarkly/ldfake, provider/flagsmith/fsfake) whose
// management API checks every request against the documented shape, while the
// vendors' SDKs run for real and evaluate what the rollout wrote. Time is virtual
// (a k8s.io/utils/clock/testing FakeClock), so weeks take seconds.
//
// Scenarios, on each backend:
//
//	gateway     payment_gateway_v2 at 1% -> 10% -> 50% -> 100%, a day of metric checks
//	            (every 10 minutes) at each share below 100%; staging is on for
//	            everyone throughout, QA's accounts are targeted
//	regression  the same, but the new gateway's error rate jumps to 4% at 10%: the
//	            flag goes back to 0% in one write
//	search      search_algorithm at 5% -> 25% -> 75% -> 100%, a week each, with the
//	            runner process restarted every 15 reconciles (about 30 hours of
//	            virtual time): each new process opens new stores and resumes from
//	            the state files
//	outage      the flag service answers 503 from the 50% step on: bounded retries,
//	            then the rollout rolls back once the service answers again
//	revoked-token
//	            the API token is refused (401) at the 50% step: no retry, the
//	            rollout rolls back
//
// After every write, 10,000 distinct users are evaluated through the SDK; the
// share served the new variation is printed next to the percentage written.
//
//	go run ./examples/flag-rollout -backend all -scenario all
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"
)

func main() {
	backendName := flag.String("backend", "all", "launchdarkly, flagsmith or all")
	scenarioName := flag.String("scenario", "all", "gateway, regression, search, outage, revoked-token or all")
	dir := flag.String("state", "", "directory for the rollout state files (default: a temporary one)")
	verbose := flag.Bool("v", false, "log the stores' requests")
	flag.Parse()
	if err := run(context.Background(), os.Stdout, *backendName, *scenarioName, *dir, *verbose); err != nil {
		fmt.Fprintln(os.Stderr, "flag-rollout:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out io.Writer, backendName, scenarioName, dir string, verbose bool) error {
	backends := map[string]func() *backend{"launchdarkly": newLaunchDarkly, "flagsmith": newFlagsmith}
	var chosenBackends []string
	switch {
	case backendName == "all":
		chosenBackends = []string{"launchdarkly", "flagsmith"}
	case backends[backendName] != nil:
		chosenBackends = []string{backendName}
	default:
		return fmt.Errorf("unknown backend %q (known: launchdarkly, flagsmith, all)", backendName)
	}
	var chosen []scenario
	for _, sc := range scenarios() {
		if scenarioName == "all" || sc.name == scenarioName {
			chosen = append(chosen, sc)
		}
	}
	if len(chosen) == 0 {
		var names []string
		for _, sc := range scenarios() {
			names = append(names, sc.name)
		}
		return fmt.Errorf("unknown scenario %q (known: %s, all)", scenarioName, strings.Join(names, ", "))
	}
	if dir == "" {
		tmp, err := os.MkdirTemp("", "flag-rollout-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	level := slog.LevelWarn
	if verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: level}))
	for _, name := range chosenBackends {
		for _, sc := range chosen {
			b := backends[name]()
			rep, err := runScenario(ctx, b, sc, dir, out, logger)
			b.close()
			if err != nil {
				return fmt.Errorf("%s on %s: %w", sc.name, name, err)
			}
			printReport(out, rep)
		}
	}
	return nil
}

func printReport(out io.Writer, r Report) {
	fmt.Fprintf(out, "   => %s after %s of virtual time", strings.ToUpper(string(r.Phase)), days(r.Duration))
	if r.Restarts > 0 {
		fmt.Fprintf(out, ", across %d runner restarts", r.Restarts)
	}
	fmt.Fprintf(out, "; %d write(s) to %s", r.Writes, r.Backend)
	if r.RolledBack {
		fmt.Fprintf(out, ", the rollback in %d", r.RollbackWrites)
	}
	fmt.Fprintf(out, "; staging still serves it to %.1f%%\n", r.StagingServed)
	for _, l := range r.Record.Learning {
		if !strings.HasPrefix(l, "Check ") {
			fmt.Fprintf(out, "      %s\n", l)
		}
	}
	fmt.Fprintln(out)
}

func days(d time.Duration) string {
	if d >= 24*time.Hour {
		return fmt.Sprintf("%gd", float64(d)/float64(24*time.Hour))
	}
	return d.String()
}

// hours formats an offset from the start as "day 3 14:00".
func hours(d time.Duration) string {
	day := int(d / (24 * time.Hour))
	rest := d - time.Duration(day)*24*time.Hour
	return fmt.Sprintf("day %d %02d:%02d", day+1, int(rest.Hours()), int(rest.Minutes())%60)
}
