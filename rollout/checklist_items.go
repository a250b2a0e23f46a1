package rollout

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/agentops/progressive"
)

// The items of the production checklist, by name.
const (
	ItemStagingValidated      = "staging-validated"
	ItemMetricsDefined        = "metrics-defined"
	ItemRollbackTested        = "rollback-tested"
	ItemMonitoringReady       = "monitoring-ready"
	ItemOnCallNotified        = "on-call-notified"
	ItemDatabaseCompatible    = "database-compatible"
	ItemDependenciesReady     = "dependencies-ready"
	ItemDocumentationUpdated  = "documentation-updated"
	defaultMonitoringFamilies = "progressive_rollouts"
)

// ProductionChecklistOptions supplies the evidence the production checklist's
// verified items read. A nil field turns its item into an attested one.
type ProductionChecklistOptions struct {
	// Staging is the staging environment's state store, and StagingNamespace
	// the namespace of the same service there (empty: any namespace of that
	// store). Staging validated = a promoted rollout of the same release in it;
	// rollback tested may also be a completed rollback of the service in it.
	Staging          StateStore
	StagingNamespace string
	// Rehearsal are providers in dry-run mode (the Kubernetes provider's
	// server-side dry run) through which the rollback's writes are rehearsed.
	Rehearsal *Providers
	// Monitoring is the registry the runner's collector is registered on, and
	// MonitoringFamily a metric family it always exports. Default family:
	// progressive_rollouts.
	Monitoring       prometheus.Gatherer
	MonitoringFamily string
}

// ProductionChecklist is the eight-item validation checklist of the design
// document: staging validated, metrics defined, rollback tested, monitoring
// ready, on-call notified, database compatible, dependencies ready,
// documentation updated. The first four are verified where opts gives the
// evidence; the last four are always attested by a person.
func ProductionChecklist(opts ProductionChecklistOptions) []ChecklistItem {
	items := []ChecklistItem{
		{Name: ItemStagingValidated, Description: "the release was promoted in staging"},
		MetricsDefined(),
		{Name: ItemRollbackTested, Description: "the rollback path was rehearsed or a rollback ran in staging"},
		{Name: ItemMonitoringReady, Description: "dashboards and alerts are configured"},
		{Name: ItemOnCallNotified, Description: "the on-call team knows the deployment window"},
		{Name: ItemDatabaseCompatible, Description: "schema changes are backwards compatible"},
		{Name: ItemDependenciesReady, Description: "external services can handle the new version"},
		{Name: ItemDocumentationUpdated, Description: "runbooks describe the new version"},
	}
	if opts.Staging != nil {
		items[0] = StagingValidated(opts.Staging, opts.StagingNamespace)
	}
	if opts.Rehearsal != nil || opts.Staging != nil {
		items[2] = RollbackTested(opts.Rehearsal, opts.Staging, opts.StagingNamespace)
	}
	if opts.Monitoring != nil {
		items[3] = MonitoringReady(opts.Monitoring, opts.MonitoringFamily)
	}
	return items
}

// sameRelease reports whether a stored rollout changed the same thing as plan:
// the same service name (namespaces differ between environments) or, for a flag
// rollout, the same flag keys, with the same release.
func sameRelease(st State, plan progressive.Plan, namespace string) bool {
	if namespace != "" && st.Plan.Target.Namespace != namespace {
		return false
	}
	if st.Plan.Release != plan.Release {
		return false
	}
	if plan.Target.Name != "" {
		return st.Plan.Target.Name == plan.Target.Name
	}
	return slices.Equal(flagKeys(st.Plan), flagKeys(plan)) && len(flagKeys(plan)) > 0
}

func sameService(st State, plan progressive.Plan, namespace string) bool {
	if namespace != "" && st.Plan.Target.Namespace != namespace {
		return false
	}
	if plan.Target.Name != "" {
		return st.Plan.Target.Name == plan.Target.Name
	}
	return slices.Equal(flagKeys(st.Plan), flagKeys(plan)) && len(flagKeys(plan)) > 0
}

func flagKeys(plan progressive.Plan) []string {
	var out []string
	for _, s := range plan.Steps {
		if s.SetFlag != nil && !slices.Contains(out, s.SetFlag.Flag.Key) {
			out = append(out, s.SetFlag.Flag.Key)
		}
	}
	slices.Sort(out)
	return out
}

func describeRelease(plan progressive.Plan) string {
	subject := plan.Target.Name
	if subject == "" {
		subject = "flags " + strings.Join(flagKeys(plan), ", ")
	}
	if v := plan.Release.String(); v != "" {
		return subject + " " + v
	}
	return subject
}

func listStore(ctx context.Context, store StateStore) ([]State, error) {
	states, err := store.List(ctx)
	if err != nil {
		if progressive.IsInvalid(err) {
			return nil, err
		}
		// An unreachable staging store is not a verdict on the release.
		return nil, fmt.Errorf("list the staging store: %w", errors.Join(err, progressive.ErrTransient))
	}
	return states, nil
}

// StagingValidated holds when staging (namespace, or any namespace when empty)
// has a promoted rollout of the same service and release.
func StagingValidated(staging StateStore, namespace string) ChecklistItem {
	return ChecklistItem{
		Name:        ItemStagingValidated,
		Description: "the release was promoted in staging",
		Verify: func(ctx context.Context, in ChecklistInput) (string, error) {
			states, err := listStore(ctx, staging)
			if err != nil {
				return "", err
			}
			for _, st := range states {
				if st.Phase == PhaseSucceeded && sameRelease(st, in.Plan, namespace) {
					return fmt.Sprintf("rollout %s promoted %s in staging at %s", st.ID, describeRelease(in.Plan),
						st.UpdatedAt.UTC().Format("2006-01-02T15:04:05Z")), nil
				}
			}
			return "", fmt.Errorf("no promoted rollout of %s in the staging store", describeRelease(in.Plan))
		},
	}
}

// MetricsDefined holds when the plan analyses at least one check that can roll
// it back (severity fail, with a bound or a judge) and every query answered at
// Start's preflight.
func MetricsDefined() ChecklistItem {
	return ChecklistItem{
		Name:        ItemMetricsDefined,
		Description: "success criteria are defined and their metrics answer",
		Verify: func(_ context.Context, in ChecklistInput) (string, error) {
			var gating []string
			for _, c := range allChecks(in.Plan) {
				if c.WithDefaults().Severity == progressive.SeverityFail {
					gating = append(gating, c.Name)
				}
			}
			if len(gating) == 0 {
				return "", errors.New("no analysed check can roll the rollout back (none, or all warn-only)")
			}
			if !in.Preflight {
				return "", errors.New("the checks' queries were not asked yet (the preflight runs at Start)")
			}
			return fmt.Sprintf("%d check(s) can roll back (%s) and every query answered at preflight",
				len(gating), strings.Join(gating, ", ")), nil
		},
	}
}

// RollbackTested holds when the rollback's writes are accepted by rehearsal
// providers in dry-run mode, or else when staging holds a completed rollback of
// the same service. Either may be nil.
func RollbackTested(rehearsal *Providers, staging StateStore, namespace string) ChecklistItem {
	return ChecklistItem{
		Name:        ItemRollbackTested,
		Description: "the rollback path was rehearsed or a rollback ran in staging",
		Verify: func(ctx context.Context, in ChecklistInput) (string, error) {
			var why []string
			if rehearsal != nil {
				evidence, err := rehearseRollback(ctx, *rehearsal, in.Plan)
				if err == nil {
					return evidence, nil
				}
				if progressive.IsTransient(err) {
					return "", err
				}
				why = append(why, err.Error())
			}
			if staging != nil {
				states, err := listStore(ctx, staging)
				if err != nil {
					return "", err
				}
				for _, st := range states {
					if (st.Phase == PhaseRolledBack || st.Phase == PhaseAborted) && sameService(st, in.Plan, namespace) {
						return fmt.Sprintf("rollout %s rolled back in staging at %s", st.ID,
							st.UpdatedAt.UTC().Format("2006-01-02T15:04:05Z")), nil
					}
				}
				why = append(why, "no completed rollback of "+describeRelease(in.Plan)+" in the staging store")
			}
			if len(why) == 0 {
				return "", errors.New("no rehearsal providers and no staging store to look at")
			}
			return "", errors.New(strings.Join(why, "; "))
		},
	}
}

// rehearseRollback sends the writes a rollback of plan makes (all traffic to
// stable, every flag to 0%, the canary scaled away) to providers in dry-run
// mode. A provider without a dry-run mode cannot rehearse anything.
func rehearseRollback(ctx context.Context, p Providers, plan progressive.Plan) (string, error) {
	var done []string
	uses := func(match func(progressive.Step) bool) bool { return slices.ContainsFunc(plan.Steps, match) }
	if uses(func(s progressive.Step) bool { return s.SetWeight != nil || s.SetRoutes != nil || s.Switch != nil }) {
		router, err := p.router(plan)
		if err != nil {
			return "", err
		}
		if !inDryRun(router) {
			return "", fmt.Errorf("router %s has no dry-run mode to rehearse with", router.Name())
		}
		if err := router.SetRoutes(ctx, plan.Target, progressive.AllStable()); err != nil {
			return "", fmt.Errorf("rehearsed routes back to stable: %w", err)
		}
		done = append(done, "routes back to stable")
	}
	if uses(func(s progressive.Step) bool { return s.SetFlag != nil }) {
		store, err := p.flags(plan)
		if err != nil {
			return "", err
		}
		if !inDryRun(store) {
			return "", fmt.Errorf("flag store %s has no dry-run mode to rehearse with", store.Name())
		}
		for _, s := range plan.Steps {
			if f := s.SetFlag; f != nil {
				if err := store.SetRollout(ctx, f.Flag, progressive.PercentRollout(f.Variation, f.Fallback, 0)); err != nil {
					return "", fmt.Errorf("rehearsed flag %s back to 0%%: %w", f.Flag, err)
				}
			}
		}
		done = append(done, "flags back to 0%")
	}
	if uses(func(s progressive.Step) bool { return s.Deploy != nil }) {
		w, err := p.workload(plan)
		if err != nil {
			return "", err
		}
		if !inDryRun(w) {
			return "", fmt.Errorf("workload %s has no dry-run mode to rehearse with", w.Name())
		}
		// No canary exists before the rollout: the write is checked up to it.
		if err := w.RollbackCanary(ctx, plan.Target); err != nil && !errors.Is(err, progressive.ErrNotFound) {
			return "", fmt.Errorf("rehearsed canary scale-down: %w", err)
		}
		done = append(done, "canary scaled away")
	}
	if len(done) == 0 {
		return "", errors.New("the plan changes nothing a rollback would undo")
	}
	return "rollback rehearsed in dry-run mode: " + strings.Join(done, ", "), nil
}

// MonitoringReady holds when registry exports family (default
// progressive_rollouts, which the runner's collector always exports once
// registered).
func MonitoringReady(registry prometheus.Gatherer, family string) ChecklistItem {
	if family == "" {
		family = defaultMonitoringFamilies
	}
	return ChecklistItem{
		Name:        ItemMonitoringReady,
		Description: "the runner's metrics are exported for dashboards and alerts",
		Verify: func(context.Context, ChecklistInput) (string, error) {
			mfs, err := registry.Gather()
			if err != nil {
				return "", fmt.Errorf("gather the monitoring registry: %w", err)
			}
			for _, mf := range mfs {
				if mf.GetName() == family {
					return fmt.Sprintf("metric family %s is exported", family), nil
				}
			}
			return "", fmt.Errorf("metric family %s is not exported: register the runner's collector", family)
		},
	}
}

// AttestedItem is an item only a person can state.
func AttestedItem(name, description string) ChecklistItem {
	return ChecklistItem{Name: name, Description: description}
}

// Attestations is an in-memory AttestationSource: a program records what people
// state (Attest) and overrides (Override) per rollout id.
type Attestations struct {
	mu    sync.Mutex
	given map[string]Attested
}

// NewAttestations returns an empty source.
func NewAttestations() *Attestations { return &Attestations{given: map[string]Attested{}} }

// Attest records a for rollout.
func (a *Attestations) Attest(rollout string, at Attestation) {
	a.mu.Lock()
	defer a.mu.Unlock()
	g := a.given[rollout]
	g.Attestations = append(slices.Clone(g.Attestations), at)
	a.given[rollout] = g
}

// Override records an override for rollout.
func (a *Attestations) Override(rollout string, o Override) {
	a.mu.Lock()
	defer a.mu.Unlock()
	g := a.given[rollout]
	g.Override = &o
	a.given[rollout] = g
}

// Attested implements AttestationSource.
func (a *Attestations) Attested(_ context.Context, rollout string) (Attested, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	g := a.given[rollout]
	out := Attested{Attestations: slices.Clone(g.Attestations)}
	if g.Override != nil {
		o := *g.Override
		out.Override = &o
	}
	return out, nil
}
