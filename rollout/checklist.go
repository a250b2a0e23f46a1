package rollout

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/agentops/progressive"
)

// A validation checklist is the last gate before a production rollout: staging
// validated, metrics defined, rollback tested, monitoring ready, on-call
// notified, schema compatible, dependencies ready, runbooks updated. Neither
// Flagger nor Argo Rollouts has one; teams keep it in a wiki and skip it under
// pressure. Here each item is either verified by the runner from evidence it can
// read (a promoted record in staging, the preflight's answers, a rehearsed
// rollback, a registered collector) or attested by a named person, and Start
// refuses a gated plan until every item holds. The outcome of every item, each
// attestation with who and when, and an override with its reason land in the
// decision record, so a post-incident review reads what was checked.

// ErrChecklist marks a Start refused because the validation checklist does not
// hold. It wraps progressive.ErrInvalid: retrying does not help, evidence or an
// attestation does.
var ErrChecklist = fmt.Errorf("validation checklist not satisfied: %w", progressive.ErrInvalid)

// Checklist gates Start (Options.Checklist). The zero value gates nothing.
type Checklist struct {
	// Items must all hold, in this order. Names must be unique.
	Items []ChecklistItem
	// Applies selects the plans the checklist gates, for example those whose
	// target namespace is "production". Default: every plan.
	Applies func(progressive.Plan) bool
	// Attestations answers the attested items and overrides of a rollout.
	// Default: none, so every attested item is missing.
	Attestations AttestationSource
}

// ChecklistItem is one line of the checklist.
type ChecklistItem struct {
	// Name identifies the item in attestations and records: lower case
	// letters, digits and '-'.
	Name string
	// Description says what holding the item means, for people.
	Description string
	// Verify checks the item from evidence and returns that evidence in a
	// sentence. An error wrapping progressive.ErrTransient means it could not
	// look (Start fails transiently); any other error means the item does not
	// hold, and its message says why. Nil makes the item attested: a person
	// states it holds (Attestation).
	Verify func(ctx context.Context, in ChecklistInput) (string, error)
}

// ChecklistInput is what an item's Verify may look at.
type ChecklistInput struct {
	Plan progressive.Plan
	// Runner is the runner starting the rollout (for its providers).
	Runner *Runner
	// Preflight is true when every query of the plan answered at Start's
	// preflight (the gate runs after it).
	Preflight bool
	Now       time.Time
}

// Attestation is a person's statement that an item holds.
type Attestation struct {
	Item string    `json:"item"`
	By   string    `json:"by"`
	At   time.Time `json:"at"`
	Note string    `json:"note,omitempty"`
}

// Override starts a rollout whose checklist does not hold. It needs a person
// and a reason, both recorded.
type Override struct {
	By     string    `json:"by"`
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

// Attested is what an AttestationSource holds for one rollout.
type Attested struct {
	Attestations []Attestation
	Override     *Override
}

// AttestationSource answers the attestations given for a rollout id (the
// plan's name). A CLI, a chat bot or an annotation on a custom resource feeds
// one; Attestations is an in-memory one.
type AttestationSource interface {
	Attested(ctx context.Context, rollout string) (Attested, error)
}

// ItemOutcome is how one item fared.
type ItemOutcome struct {
	Item string `json:"item"`
	// Held is true when the item was verified or attested.
	Held bool `json:"held"`
	// Evidence is Verify's sentence, or who attested it and when; Problem says
	// why the item does not hold.
	Evidence string `json:"evidence,omitempty"`
	Problem  string `json:"problem,omitempty"`
}

// ChecklistReport is the outcome of every item for one plan.
type ChecklistReport struct {
	Items    []ItemOutcome `json:"items"`
	Override *Override     `json:"override,omitempty"`
}

// Held reports whether every item held.
func (c ChecklistReport) Held() bool {
	for _, it := range c.Items {
		if !it.Held {
			return false
		}
	}
	return true
}

// Validate reports items without a name, duplicated names (an attestation of one
// would count for both) and names an attestation could not spell.
func (c *Checklist) Validate() error {
	var p progressive.Problems
	seen := map[string]bool{}
	for i, it := range c.Items {
		field := fmt.Sprintf("checklist.items[%d].name", i)
		switch {
		case it.Name == "":
			p.Add(field, it.Name, "is required")
		case !progressive.IsDNSSubdomain(it.Name) || len(it.Name) > 63 || strings.Contains(it.Name, "."):
			p.Add(field, it.Name, "must be lower case letters, digits and '-', at most 63")
		case seen[it.Name]:
			p.Add(field, it.Name, "is used by an earlier item: names must be unique")
		}
		seen[it.Name] = true
	}
	return p.Err()
}

// applies reports whether c gates plan.
func (c *Checklist) applies(plan progressive.Plan) bool {
	if c == nil || len(c.Items) == 0 {
		return false
	}
	return c.Applies == nil || c.Applies(plan)
}

// Evaluate runs every item for plan and returns the report; it changes nothing.
// A program shows it before Start (the CLI's validate does). Attestations of
// items the checklist does not have, or without a person or a time, are errors
// naming them.
func (c *Checklist) Evaluate(ctx context.Context, in ChecklistInput) (ChecklistReport, error) {
	var given Attested
	if c.Attestations != nil {
		var err error
		if given, err = c.Attestations.Attested(ctx, in.Plan.Name); err != nil {
			return ChecklistReport{}, fmt.Errorf("checklist: read attestations of %s: %w", in.Plan.Name, err)
		}
	}
	if err := c.checkAttested(given); err != nil {
		return ChecklistReport{}, err
	}
	report := ChecklistReport{Items: make([]ItemOutcome, 0, len(c.Items)), Override: given.Override}
	for _, it := range c.Items {
		out := ItemOutcome{Item: it.Name}
		if it.Verify == nil {
			if a, ok := findAttestation(given.Attestations, it.Name); ok {
				out.Held = true
				out.Evidence = describeAttestation(a)
			} else {
				out.Problem = fmt.Sprintf("needs an attestation (%s)", orDefault(it.Description, it.Name))
			}
			report.Items = append(report.Items, out)
			continue
		}
		evidence, err := it.Verify(ctx, in)
		switch {
		case err == nil:
			out.Held, out.Evidence = true, evidence
		case errors.Is(err, progressive.ErrTransient):
			return ChecklistReport{}, fmt.Errorf("checklist item %s: %w", it.Name, err)
		default:
			// A person may still attest an item the runner could not verify
			// (staging ran on another cluster, say); the record says which.
			if a, ok := findAttestation(given.Attestations, it.Name); ok {
				out.Held = true
				out.Evidence = describeAttestation(a) + "; not verified: " + err.Error()
			} else {
				out.Problem = err.Error()
			}
		}
		report.Items = append(report.Items, out)
	}
	return report, nil
}

func (c *Checklist) checkAttested(given Attested) error {
	var p progressive.Problems
	for i, a := range given.Attestations {
		field := fmt.Sprintf("attestations[%d]", i)
		if !slices.ContainsFunc(c.Items, func(it ChecklistItem) bool { return it.Name == a.Item }) {
			p.Add(field+".item", a.Item, "is not an item of the checklist (items: %s)", strings.Join(c.names(), ", "))
		}
		if strings.TrimSpace(a.By) == "" {
			p.Add(field+".by", a.By, "must name the person attesting")
		}
		if a.At.IsZero() {
			p.Add(field+".at", "", "must say when it was attested")
		}
	}
	if o := given.Override; o != nil {
		if strings.TrimSpace(o.By) == "" {
			p.Add("override.by", o.By, "must name the person overriding the checklist")
		}
		if strings.TrimSpace(o.Reason) == "" {
			p.Add("override.reason", o.Reason, "must say why the checklist is overridden")
		}
	}
	return p.Err()
}

func (c *Checklist) names() []string {
	out := make([]string, len(c.Items))
	for i, it := range c.Items {
		out[i] = it.Name
	}
	return out
}

func findAttestation(as []Attestation, item string) (Attestation, bool) {
	// The latest attestation of an item counts.
	for i := len(as) - 1; i >= 0; i-- {
		if as[i].Item == item {
			return as[i], true
		}
	}
	return Attestation{}, false
}

func describeAttestation(a Attestation) string {
	s := fmt.Sprintf("attested by %s at %s", a.By, a.At.UTC().Format(time.RFC3339))
	if a.Note != "" {
		s += ": " + a.Note
	}
	return s
}

// gate runs the checklist at Start, after the preflight. It returns the
// decisions to record, or ErrChecklist listing every item that does not hold
// when no override was given.
func (r *Runner) gate(ctx context.Context, plan progressive.Plan, now time.Time) ([]Decision, error) {
	c := r.opts.Checklist
	if !c.applies(plan) {
		return nil, nil
	}
	report, err := c.Evaluate(ctx, ChecklistInput{Plan: plan, Runner: r, Preflight: true, Now: now})
	if err != nil {
		return nil, err
	}
	var decisions []Decision
	var missing []string
	for _, it := range report.Items {
		if it.Held {
			decisions = append(decisions, Decision{Time: now, Action: "checklist", Reason: it.Item + ": " + it.Evidence})
			continue
		}
		missing = append(missing, it.Item+": "+it.Problem)
		decisions = append(decisions, Decision{Time: now, Action: "checklist", Reason: it.Item + ": not satisfied: " + it.Problem})
	}
	if len(missing) == 0 {
		return decisions, nil
	}
	if o := report.Override; o != nil {
		at := o.At
		if at.IsZero() {
			at = now
		}
		decisions = append(decisions, Decision{Time: now, Action: "checklist-override",
			Reason: fmt.Sprintf("checklist overridden by %s at %s: %s (not satisfied: %s)",
				o.By, at.UTC().Format(time.RFC3339), o.Reason, strings.Join(itemNames(missing), ", "))})
		return decisions, nil
	}
	return nil, fmt.Errorf("rollout %s: %w: %s; attest the items or override with a reason",
		plan.Name, ErrChecklist, strings.Join(missing, "; "))
}

func itemNames(missing []string) []string {
	out := make([]string, len(missing))
	for i, m := range missing {
		out[i], _, _ = strings.Cut(m, ":")
	}
	return out
}
