package cli

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/rollout"
)

// ChecklistConfig makes the production validation checklist
// (rollout.ProductionChecklist) a gate of run: a rollout it applies to starts
// only when every item holds, verified from evidence (a promoted rollout of
// the release in staging, the preflight's answers, a rollback in staging) or
// attested by a person (run --attest ITEM=NAME), unless a person overrides it
// with a reason (--checklist-override). Both land in the decision record.
//
//	checklist:
//	  namespaces: [production]
//	  staging:
//	    store: {kind: configmap, namespace: progressive-system}
//	    kubernetes: {context: staging}
//	    namespace: staging
type ChecklistConfig struct {
	// Namespaces and Targets (namespace/name) select the rollouts gated: a
	// rollout whose target is in either. Both empty gate every rollout.
	Namespaces []string `json:"namespaces,omitempty"`
	Targets    []string `json:"targets,omitempty"`
	// Staging is where the staging-validated and rollback-tested items look.
	// Without it, a person attests them.
	Staging *StagingConfig `json:"staging,omitempty"`
}

// StagingConfig is the staging environment's state store.
type StagingConfig struct {
	Store StoreConfig `json:"store"`
	// Kubernetes selects the cluster of a configmap store; default the
	// configuration's.
	Kubernetes *KubernetesConfig `json:"kubernetes,omitempty"`
	// Namespace is the service's namespace in staging; empty accepts any.
	Namespace string `json:"namespace,omitempty"`
}

func validateChecklist(add func(string, any, string), c *ChecklistConfig) {
	if c == nil {
		return
	}
	for i, t := range c.Targets {
		if ns, name, ok := strings.Cut(t, "/"); !ok || ns == "" || name == "" {
			add(fmt.Sprintf("checklist.targets[%d]", i), t, "want namespace/name")
		}
	}
	for i, ns := range c.Namespaces {
		if ns == "" {
			add(fmt.Sprintf("checklist.namespaces[%d]", i), ns, "must not be empty")
		}
	}
	if s := c.Staging; s != nil {
		switch s.Store.Kind {
		case StoreFile:
			if s.Store.Dir == "" {
				add("checklist.staging.store.dir", "", "a file store needs the directory staging's rollouts are kept in")
			}
		case StoreConfigMap:
			if s.Store.Namespace == "" {
				add("checklist.staging.store.namespace", "", "a configmap store needs the namespace of its ConfigMaps")
			}
		default:
			add("checklist.staging.store.kind", s.Store.Kind, "want configmap or file")
		}
		if s.Kubernetes != nil && s.Store.Kind != StoreConfigMap {
			add("checklist.staging.kubernetes", "set", "only a configmap store is read from a cluster")
		}
	}
}

// applies reports whether the checklist gates plan.
func (c *ChecklistConfig) applies(plan progressive.Plan) bool {
	if len(c.Namespaces) == 0 && len(c.Targets) == 0 {
		return true
	}
	return slices.Contains(c.Namespaces, plan.Target.Namespace) || slices.Contains(c.Targets, plan.Target.String())
}

// attestFlag collects --attest ITEM=NAME.
type attestFlag struct{ list *[]rollout.Attestation }

func (f attestFlag) String() string {
	if f.list == nil {
		return ""
	}
	var out []string
	for _, a := range *f.list {
		out = append(out, a.Item+"="+a.By)
	}
	return strings.Join(out, ",")
}

func (f attestFlag) Set(v string) error {
	item, by, ok := strings.Cut(v, "=")
	item, by = strings.TrimSpace(item), strings.TrimSpace(by)
	if !ok || item == "" || by == "" {
		return errors.New("want ITEM=NAME, such as on-call-notified=alice (who attests the item)")
	}
	*f.list = append(*f.list, rollout.Attestation{Item: item, By: by})
	return nil
}

// checklistFlags are run's checklist flags.
type checklistFlags struct {
	attest     []rollout.Attestation
	override   string
	overrideBy string
}

func addChecklistFlags(f *flags) *checklistFlags {
	c := &checklistFlags{}
	f.fs.Var(attestFlag{&c.attest}, "attest", "attest a checklist item: `ITEM=NAME`, the person who vouches for it (repeatable)")
	f.fs.StringVar(&c.override, "checklist-override", "", "start although checklist items do not hold, for this `reason` (recorded with who gave it)")
	f.fs.StringVar(&c.overrideBy, "checklist-override-by", "", "who overrides the checklist (default $USER)")
	return c
}

// given is the attestations and override of one run, as the checklist asks
// for them.
type given rollout.Attested

func (g given) Attested(context.Context, string) (rollout.Attested, error) {
	return rollout.Attested(g), nil
}

// checklist builds the gate of run from the configuration and the flags; nil
// when the configuration has none. Attestations of items the checklist does
// not have are refused here, naming the flag.
func (s *session) checklist(ctx context.Context, cf *checklistFlags, plan *progressive.Plan, monitoring prometheus.Gatherer, now time.Time) (*rollout.Checklist, error) {
	c := s.cfg.Checklist
	if c == nil {
		if len(cf.attest) > 0 || cf.override != "" {
			return nil, invalidf("flags --attest and --checklist-override: %s has no checklist section", configName(s.cfg))
		}
		return nil, nil
	}
	// With --metrics-addr the runner's collector is served: monitoring-ready
	// holds by evidence; without it, a person attests it.
	opts := rollout.ProductionChecklistOptions{Monitoring: monitoring}
	if !s.flags.sim && c.applies(*plan) {
		// The rollback's writes are rehearsed through server-side dry runs
		// before the rollout starts; a router or flag store without a dry-run
		// mode leaves the item to staging's records or to a person.
		rehearsal, err := s.rehearsalProviders(plan)
		if err != nil {
			return nil, err
		}
		opts.Rehearsal = rehearsal
	}
	if st := c.Staging; st != nil {
		store, err := s.stagingStore(st)
		if err != nil {
			return nil, err
		}
		opts.Staging, opts.StagingNamespace = store, st.Namespace
	}
	items := rollout.ProductionChecklist(opts)
	names := make([]string, len(items))
	for i, it := range items {
		names[i] = it.Name
	}
	g := given{}
	for _, a := range cf.attest {
		if !slices.Contains(names, a.Item) {
			return nil, invalidf("flag --attest %q: %q is not an item of the checklist (items: %s)", a.Item+"="+a.By, a.Item, strings.Join(names, ", "))
		}
		a.At = now
		g.Attestations = append(g.Attestations, a)
	}
	if cf.override != "" {
		by := cf.overrideBy
		if by == "" {
			by = s.app.Getenv("USER")
		}
		if strings.TrimSpace(by) == "" {
			return nil, invalidf("flag --checklist-override: say who overrides with --checklist-override-by NAME ($USER is not set)")
		}
		g.Override = &rollout.Override{By: by, Reason: cf.override, At: now}
	}
	return &rollout.Checklist{Items: items, Applies: c.applies, Attestations: g}, nil
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// stagingStore opens staging's state store, read only by the checklist.
func (s *session) stagingStore(st *StagingConfig) (rollout.StateStore, error) {
	if st.Store.Kind == StoreFile {
		store, err := rollout.NewFileStore(s.app.expandHome(st.Store.Dir))
		if err != nil {
			return nil, invalidf("config %s: checklist.staging.store.dir %q: %v", s.cfg.path, st.Store.Dir, err)
		}
		return store, nil
	}
	from := s
	if st.Kubernetes != nil {
		// Staging on another cluster: a session of its own connects there.
		from = &session{app: s.app, cfg: &Config{Kubernetes: *st.Kubernetes, path: s.cfg.path}, flags: &flags{}}
		s.closers.add(from.close)
	}
	p, err := from.kube(false)
	if err != nil {
		return nil, err
	}
	return p.Store(st.Store.Namespace)
}

// explainRefusal lists every item of a refused checklist on stderr, one a
// line, with what would make it hold.
func (a *App) explainRefusal(ctx context.Context, c *rollout.Checklist, runner *rollout.Runner, plan progressive.Plan) {
	report, err := c.Evaluate(ctx, rollout.ChecklistInput{Plan: plan, Runner: runner, Preflight: true, Now: a.Now()})
	if err != nil {
		return
	}
	fmt.Fprintf(a.Stderr, "validation checklist of %s:\n", plan.Name)
	for _, it := range report.Items {
		if it.Held {
			fmt.Fprintf(a.Stderr, "  ok       %-22s %s\n", it.Item, it.Evidence)
		} else {
			fmt.Fprintf(a.Stderr, "  MISSING  %-22s %s\n", it.Item, it.Problem)
		}
	}
	fmt.Fprintf(a.Stderr, "attest an item with --attest ITEM=NAME, or start anyway with --checklist-override REASON\n")
}

// configName names the configuration in messages.
func configName(c *Config) string {
	if c.path == "" {
		return "the configuration"
	}
	return "config " + c.path
}

// rehearsalProviders are the workload and router a rollback writes through,
// from a kubernetes provider of their own in dry-run mode (the session's,
// built once, writes for real). A plan that sets flags gets none: no flag
// store has a dry-run mode, so the item is left to staging or a person
// rather than opening the flag store's SDK a second time.
func (s *session) rehearsalProviders(plan *progressive.Plan) (*rollout.Providers, error) {
	if needsFlags(plan) {
		return nil, nil
	}
	rs := &session{app: s.app, cfg: s.cfg, flags: s.flags}
	s.closers.add(rs.close)
	p, err := rs.kube(true)
	if err != nil {
		return nil, err
	}
	routers, err := rs.routers(p)
	if err != nil {
		return nil, err
	}
	return &rollout.Providers{Workloads: []progressive.Workload{p.Workload()}, Routers: routers}, nil
}
