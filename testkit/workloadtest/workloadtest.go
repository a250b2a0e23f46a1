package workloadtest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/agentops/progressive"
)

// Setup is what one behaviour needs.
type Setup struct {
	Workload progressive.Workload
	// Target exists with a stable side of ready pods and no canary.
	Target progressive.Target
	// Release is a good new release: its pods pass readiness.
	Release progressive.Release
	// NeverReady, when set, is a release whose pods never pass readiness
	// (the simulator's NeverReady image, a "never-ready" image on the
	// testkit control plane). Without it the behaviour is skipped.
	NeverReady *progressive.Release
	// Settle is how long a real platform may take to show a change (pods
	// scheduled, ready): the suite polls Status until it shows what it
	// expects, for up to Settle. 0 means at once, as for the simulator.
	Settle time.Duration
	// Observe is how long the suite watches a never-ready canary stay
	// unready. Default: Settle/10, at least a poll.
	Observe time.Duration
	// Timeout bounds each behaviour. Default: 4*Settle + one minute.
	Timeout time.Duration
}

// Behaviour is one entry of the conformance table.
type Behaviour struct {
	Name string
	Run  func(t *testing.T, ctx context.Context, s Setup)
}

// Behaviours is the table Run runs, in order.
var Behaviours = []Behaviour{
	{"DeployCanaryBesideStable", deployCanary},
	{"ScaleCanary", scaleCanary},
	{"RollbackCanaryToZero", rollbackCanary},
	{"PromoteCanaryRelease", promote},
	{"NeverReadyCanary", neverReady},
	{"NegativeReplicasInvalid", negativeReplicas},
	{"RollerBatchesAndUndo", rollerBatchesAndUndo},
}

// Run runs every behaviour of Behaviours as a subtest, each with a fresh Setup
// from newSetup.
func Run(t *testing.T, newSetup func(t *testing.T) Setup) {
	t.Helper()
	for _, b := range Behaviours {
		t.Run(b.Name, func(t *testing.T) {
			s := newSetup(t)
			if s.Workload == nil {
				t.Fatal("workloadtest: Setup.Workload is nil")
			}
			if s.Release.Version == "" {
				t.Fatal("workloadtest: Setup.Release.Version is empty")
			}
			timeout := s.Timeout
			if timeout <= 0 {
				timeout = 4*s.Settle + time.Minute
			}
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			b.Run(t, ctx, s)
		})
	}
}

const poll = 50 * time.Millisecond

// eventually polls Status until ok accepts it, for up to s.Settle.
func eventually(t *testing.T, ctx context.Context, s Setup, what string, ok func(progressive.WorkloadStatus) error) progressive.WorkloadStatus {
	t.Helper()
	deadline := time.Now().Add(s.Settle)
	for {
		st, err := s.Workload.Status(ctx, s.Target)
		if err == nil {
			if err = ok(st); err == nil {
				return st
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			t.Fatalf("%s: %v (last status %+v)", what, err, st)
		}
		time.Sleep(poll)
	}
}

func status(t *testing.T, ctx context.Context, s Setup) progressive.WorkloadStatus {
	t.Helper()
	st, err := s.Workload.Status(ctx, s.Target)
	if err != nil {
		t.Fatalf("Status(%s): %v", s.Target, err)
	}
	return st
}

// stableReady waits for the stable side to be fully ready, as Setup promises.
func stableReady(t *testing.T, ctx context.Context, s Setup) progressive.VersionStatus {
	t.Helper()
	st := eventually(t, ctx, s, "stable side ready before the behaviour", func(st progressive.WorkloadStatus) error {
		if st.Stable.Replicas == 0 || st.Stable.Ready != st.Stable.Replicas {
			return fmt.Errorf("stable %d/%d ready", st.Stable.Ready, st.Stable.Replicas)
		}
		return nil
	})
	return st.Stable
}

func canaryIs(replicas, ready int, version string) func(progressive.WorkloadStatus) error {
	return func(st progressive.WorkloadStatus) error {
		c := st.Canary
		if c.Replicas != replicas || c.Ready != ready || (version != "" && c.Version != version) {
			return fmt.Errorf("canary %+v, want %d replicas, %d ready, version %q", c, replicas, ready, version)
		}
		return nil
	}
}

func must(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func sameStable(t *testing.T, before, after progressive.VersionStatus) {
	t.Helper()
	if after.Version != before.Version || after.Replicas != before.Replicas || after.Ready != before.Ready {
		t.Errorf("the stable side changed: %+v, was %+v", after, before)
	}
}

func deployCanary(t *testing.T, ctx context.Context, s Setup) {
	before := stableReady(t, ctx, s)
	must(t, "DeployCanary", s.Workload.DeployCanary(ctx, s.Target, s.Release, 2))
	st := eventually(t, ctx, s, "canary of 2 ready pods", canaryIs(2, 2, s.Release.Version))
	sameStable(t, before, st.Stable)
	// Deploying the same release again changes nothing.
	must(t, "DeployCanary again", s.Workload.DeployCanary(ctx, s.Target, s.Release, 2))
	eventually(t, ctx, s, "canary unchanged", canaryIs(2, 2, s.Release.Version))
}

func scaleCanary(t *testing.T, ctx context.Context, s Setup) {
	stableReady(t, ctx, s)
	must(t, "DeployCanary", s.Workload.DeployCanary(ctx, s.Target, s.Release, 1))
	eventually(t, ctx, s, "canary of 1", canaryIs(1, 1, s.Release.Version))
	must(t, "ScaleCanary(3)", s.Workload.ScaleCanary(ctx, s.Target, 3))
	eventually(t, ctx, s, "canary scaled up to 3", canaryIs(3, 3, s.Release.Version))
	must(t, "ScaleCanary(1)", s.Workload.ScaleCanary(ctx, s.Target, 1))
	eventually(t, ctx, s, "canary scaled down to 1", canaryIs(1, 1, ""))
}

func rollbackCanary(t *testing.T, ctx context.Context, s Setup) {
	before := stableReady(t, ctx, s)
	// Before any canary exists: a rollback of a rollout that never deployed.
	must(t, "RollbackCanary without a canary", s.Workload.RollbackCanary(ctx, s.Target))
	must(t, "DeployCanary", s.Workload.DeployCanary(ctx, s.Target, s.Release, 2))
	eventually(t, ctx, s, "canary of 2", canaryIs(2, 2, s.Release.Version))
	must(t, "RollbackCanary", s.Workload.RollbackCanary(ctx, s.Target))
	st := eventually(t, ctx, s, "canary at zero", canaryIs(0, 0, ""))
	sameStable(t, before, st.Stable)
	must(t, "RollbackCanary again", s.Workload.RollbackCanary(ctx, s.Target))
	sameStable(t, before, status(t, ctx, s).Stable)
}

func promote(t *testing.T, ctx context.Context, s Setup) {
	before := stableReady(t, ctx, s)
	must(t, "DeployCanary", s.Workload.DeployCanary(ctx, s.Target, s.Release, 2))
	eventually(t, ctx, s, "canary of 2", canaryIs(2, 2, s.Release.Version))
	must(t, "Promote", s.Workload.Promote(ctx, s.Target))
	eventually(t, ctx, s, "stable side on the canary's release", func(st progressive.WorkloadStatus) error {
		sb := st.Stable
		if sb.Version != s.Release.Version || sb.Replicas != before.Replicas || sb.Ready != sb.Replicas || sb.Updated != sb.Replicas {
			return fmt.Errorf("stable %+v, want version %s with %d updated ready pods", sb, s.Release.Version, before.Replicas)
		}
		return nil
	})
	must(t, "RollbackCanary after promotion", s.Workload.RollbackCanary(ctx, s.Target))
	st := eventually(t, ctx, s, "canary at zero after promotion", canaryIs(0, 0, ""))
	if st.Stable.Version != s.Release.Version {
		t.Errorf("scaling the canary away after promotion changed the stable side: %+v", st.Stable)
	}
}

func neverReady(t *testing.T, ctx context.Context, s Setup) {
	if s.NeverReady == nil {
		t.Skip("workloadtest: Setup.NeverReady not given")
	}
	before := stableReady(t, ctx, s)
	must(t, "DeployCanary(never ready)", s.Workload.DeployCanary(ctx, s.Target, *s.NeverReady, 2))
	eventually(t, ctx, s, "canary of 2 unready pods", canaryIs(2, 0, s.NeverReady.Version))
	observe := s.Observe
	if observe <= 0 {
		observe = max(s.Settle/10, poll)
	}
	for end := time.Now().Add(observe); time.Now().Before(end); time.Sleep(poll) {
		st := status(t, ctx, s)
		if st.Canary.Ready != 0 {
			t.Fatalf("a never-ready canary read as ready: %+v", st.Canary)
		}
		sameStable(t, before, st.Stable)
	}
}

func negativeReplicas(t *testing.T, ctx context.Context, s Setup) {
	stableReady(t, ctx, s)
	err := s.Workload.DeployCanary(ctx, s.Target, s.Release, -1)
	if !progressive.IsInvalid(err) {
		t.Errorf("DeployCanary with -1 replicas: %v, want an error wrapping progressive.ErrInvalid", err)
	}
	must(t, "DeployCanary", s.Workload.DeployCanary(ctx, s.Target, s.Release, 1))
	err = s.Workload.ScaleCanary(ctx, s.Target, -3)
	if !progressive.IsInvalid(err) {
		t.Errorf("ScaleCanary(-3): %v, want an error wrapping progressive.ErrInvalid", err)
	}
	if err != nil && !strings.Contains(err.Error(), "-3") {
		t.Errorf("ScaleCanary(-3): %q does not name the value", err)
	}
	eventually(t, ctx, s, "the canary as it was", canaryIs(1, 1, s.Release.Version))
}

func rollerBatchesAndUndo(t *testing.T, ctx context.Context, s Setup) {
	r, ok := s.Workload.(progressive.Roller)
	if !ok {
		t.Skip("workloadtest: the workload is not a progressive.Roller")
	}
	before := stableReady(t, ctx, s)
	start, err := r.RollStatus(ctx, s.Target)
	must(t, "RollStatus", err)
	half := max(before.Replicas/2, 1)
	params := progressive.RollingParams{MaxSurge: 1, MaxUnavailable: 0}
	rollEventually := func(what string, ok func(progressive.RollStatus) error) progressive.RollStatus {
		t.Helper()
		deadline := time.Now().Add(s.Settle)
		for {
			rs, err := r.RollStatus(ctx, s.Target)
			if err == nil {
				if err = ok(rs); err == nil {
					return rs
				}
			}
			if time.Now().After(deadline) || ctx.Err() != nil {
				t.Fatalf("%s: %v (last %+v)", what, err, rs)
			}
			time.Sleep(poll)
		}
	}
	must(t, "RollTo(half)", r.RollTo(ctx, s.Target, s.Release, half, params))
	first := rollEventually("first batch updated and ready", func(rs progressive.RollStatus) error {
		if rs.Updated < half || rs.UpdatedReady < half || rs.Revision <= start.Revision {
			return fmt.Errorf("%d updated, %d ready at revision %d; want %d at a revision after %d", rs.Updated, rs.UpdatedReady, rs.Revision, half, start.Revision)
		}
		return nil
	})
	must(t, "RollTo(all)", r.RollTo(ctx, s.Target, s.Release, before.Replicas, params))
	rollEventually("every pod updated and ready", func(rs progressive.RollStatus) error {
		if rs.Updated != rs.Desired || rs.UpdatedReady != rs.Desired || rs.Revision != first.Revision {
			return fmt.Errorf("%d/%d updated, %d ready at revision %d (want %d)", rs.Updated, rs.Desired, rs.UpdatedReady, rs.Revision, first.Revision)
		}
		return nil
	})
	must(t, "Undo(0)", r.Undo(ctx, s.Target, 0))
	rollEventually("undone to the previous template, as a new revision", func(rs progressive.RollStatus) error {
		if rs.Updated != rs.Desired || rs.UpdatedReady != rs.Desired || rs.Revision <= first.Revision {
			return fmt.Errorf("%d/%d updated, %d ready at revision %d (want a revision after %d)", rs.Updated, rs.Desired, rs.UpdatedReady, rs.Revision, first.Revision)
		}
		return nil
	})
	eventually(t, ctx, s, "the stable side back on its release", func(st progressive.WorkloadStatus) error {
		if st.Stable.Version != before.Version || st.Stable.Ready != before.Replicas {
			return fmt.Errorf("stable %+v, want %+v", st.Stable, before)
		}
		return nil
	})
}
