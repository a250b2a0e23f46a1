package sim

import (
	"context"
	"crypto/sha1"
	"encoding/binary"
	"fmt"
	"log/slog"
	"maps"
	"math/bits"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/agentops/progressive"
)

// Clause operators the FlagStore evaluates.
const (
	OpIn         = "in"
	OpStartsWith = "startsWith"
	OpEndsWith   = "endsWith"
	OpContains   = "contains"
	OpMatches    = "matches"
)

var clauseOps = []string{OpIn, OpStartsWith, OpEndsWith, OpContains, OpMatches}

// bucketScale is the number of rollout buckets: weights are percentages with three
// decimals (LaunchDarkly's 0-100000 weights).
const bucketScale = 100000

// FlagStore is an in-memory progressive.FlagStore and progressive.FlagTargeter that
// also evaluates flags the way LaunchDarkly does, so a test can check who receives
// which variation at each step of a percentage rollout.
type FlagStore struct {
	logger *slog.Logger

	mu       sync.RWMutex
	flags    map[progressive.FlagRef]*flagState
	segments map[string]map[string]bool
	regexps  map[string]*regexp.Regexp
	faults   faults
}

type flagState struct {
	flag   progressive.Flag
	writes int
}

// NewFlagStore returns an empty store. Most users get one from New.
func NewFlagStore(opts Options) *FlagStore {
	opts = opts.withDefaults()
	return &FlagStore{
		logger:   opts.Logger.With("provider", Name, "component", "flags"),
		flags:    map[progressive.FlagRef]*flagState{},
		segments: map[string]map[string]bool{},
		regexps:  map[string]*regexp.Regexp{},
	}
}

// Name returns "sim".
func (s *FlagStore) Name() string { return Name }

// AddFlag defines (or redefines) a flag after checking that every variation it
// refers to exists, its rollouts are valid and its rules are well formed. Errors
// wrap progressive.ErrInvalid. A zero Version becomes 1.
func (s *FlagStore) AddFlag(flag progressive.Flag) error {
	if err := flag.Ref.Validate(); err != nil {
		return fmt.Errorf("sim flags: flag ref: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var p progressive.Problems
	seen := map[string]bool{}
	for i, v := range flag.Variations {
		switch {
		case v.ID == "":
			p.Add(fmt.Sprintf("variations[%d].id", i), nil, "must not be empty")
		case seen[v.ID]:
			p.Add(fmt.Sprintf("variations[%d].id", i), v.ID, "is listed twice")
		}
		seen[v.ID] = true
	}
	if flag.OffVariation != "" {
		checkVariation(&p, flag, "offVariation", flag.OffVariation)
	}
	if len(flag.Fallthrough.Weights) > 0 {
		s.checkRollout(&p, flag, "fallthrough", flag.Fallthrough)
	}
	for i, t := range flag.Targets {
		checkVariation(&p, flag, fmt.Sprintf("targets[%d].variation", i), t.Variation)
	}
	s.checkRules(&p, flag, flag.Rules)
	if err := p.Err(); err != nil {
		return fmt.Errorf("sim flags: flag %s: %w", flag.Ref, err)
	}
	if flag.Version == 0 {
		flag.Version = 1
	}
	s.flags[flag.Ref] = &flagState{flag: cloneFlag(flag)}
	return nil
}

// AddSegment defines (or redefines) a segment as a set of context keys, for rules
// that name it.
func (s *FlagStore) AddSegment(name string, keys ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	set := make(map[string]bool, len(keys))
	for _, k := range keys {
		set[k] = true
	}
	s.segments[name] = set
}

// GetFlag returns a copy of the flag.
func (s *FlagStore) GetFlag(ctx context.Context, ref progressive.FlagRef) (progressive.Flag, error) {
	if err := ctxErr(ctx); err != nil {
		return progressive.Flag{}, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	st, err := s.lookup(ref)
	if err != nil {
		return progressive.Flag{}, err
	}
	return cloneFlag(st.flag), nil
}

// SetRollout replaces the fallthrough split of ref in one write. The weights must
// be valid (Rollout.Validate) and name known variations, by id or name.
func (s *FlagStore) SetRollout(ctx context.Context, ref progressive.FlagRef, rollout progressive.Rollout) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	rollout.Weights = slices.Clone(rollout.Weights)
	return s.write(ref, "set rollout", func(f *progressive.Flag) error {
		var p progressive.Problems
		s.checkRollout(&p, *f, "rollout", rollout)
		if err := p.Err(); err != nil {
			return err
		}
		f.Fallthrough = rollout
		return nil
	})
}

// SetOn turns ref on or off in one write.
func (s *FlagStore) SetOn(ctx context.Context, ref progressive.FlagRef, on bool) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	return s.write(ref, "set on", func(f *progressive.Flag) error {
		f.On = on
		return nil
	})
}

// SetTargets makes keys always receive variation, in one write: they replace the keys
// targeted to that variation (stored under its id), and a key targeted to another
// variation moves here. An empty keys list removes variation's targets.
func (s *FlagStore) SetTargets(ctx context.Context, ref progressive.FlagRef, variation string, keys []string) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	keys = slices.Clone(keys)
	return s.write(ref, "set targets", func(f *progressive.Flag) error {
		var p progressive.Problems
		checkVariation(&p, *f, "variation", variation)
		if err := p.Err(); err != nil {
			return err
		}
		id := variationID(f, variation)
		var targets []progressive.FlagTarget
		for _, t := range f.Targets {
			if variationID(f, t.Variation) == id {
				continue
			}
			t.Keys = slices.DeleteFunc(slices.Clone(t.Keys), func(k string) bool { return slices.Contains(keys, k) })
			if len(t.Keys) > 0 {
				targets = append(targets, t)
			}
		}
		if len(keys) > 0 {
			targets = append(targets, progressive.FlagTarget{Variation: id, Keys: keys})
		}
		f.Targets = targets
		return nil
	})
}

// SetRules replaces the rules of ref in one write.
func (s *FlagStore) SetRules(ctx context.Context, ref progressive.FlagRef, rules []progressive.FlagRule) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	rules = cloneRules(rules)
	return s.write(ref, "set rules", func(f *progressive.Flag) error {
		var p progressive.Problems
		s.checkRules(&p, *f, rules)
		if err := p.Err(); err != nil {
			return err
		}
		f.Rules = rules
		return nil
	})
}

// FailNextWrites makes the next n writes (SetRollout, SetOn, SetTargets, SetRules)
// fail with err, changing nothing. A nil err means an error wrapping
// progressive.ErrTransient. n = 0 clears pending failures.
func (s *FlagStore) FailNextWrites(n int, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.set(n, err, "flag store write")
}

// Writes counts the successful writes to ref.
func (s *FlagStore) Writes(ref progressive.FlagRef) int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if st, ok := s.flags[ref]; ok {
		return st.writes
	}
	return 0
}

// write applies change to a copy of the flag and stores it when change succeeds.
func (s *FlagStore) write(ref progressive.FlagRef, op string, change func(*progressive.Flag) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.lookup(ref)
	if err != nil {
		return err
	}
	f := cloneFlag(st.flag)
	if err := change(&f); err != nil {
		return fmt.Errorf("sim flags: %s %s: %w", op, ref, err)
	}
	if err := s.faults.next(); err != nil {
		return fmt.Errorf("sim flags: %s %s: %w", op, ref, err)
	}
	f.Version++
	st.flag = f
	st.writes++
	s.logger.Debug("flag written", "flag", ref.String(), "op", op, "version", f.Version)
	return nil
}

func (s *FlagStore) lookup(ref progressive.FlagRef) (*flagState, error) {
	if err := ref.Validate(); err != nil {
		return nil, fmt.Errorf("sim flags: flag ref: %w", err)
	}
	st, ok := s.flags[ref]
	if !ok {
		known := make([]string, 0, len(s.flags))
		for r := range s.flags {
			known = append(known, r.String())
		}
		slices.Sort(known)
		return nil, fmt.Errorf("sim flags: flag %s not found (known: %s): %w",
			ref, strings.Join(known, ", "), progressive.ErrNotFound)
	}
	return st, nil
}

// Evaluate returns the id of the variation ref serves to the context with key
// contextKey and attributes attrs, with LaunchDarkly's semantics:
//
//  1. a flag that is off serves its OffVariation ("" when it has none: the
//     application's default applies);
//  2. a key listed in Targets receives that target's variation;
//  3. the first rule whose clauses all match (and whose segment, if any, holds the
//     key) serves its variation or its rollout;
//  4. everyone else gets the fallthrough rollout (the OffVariation when it is empty).
//
// The attribute "key" is contextKey. A clause on a missing attribute never matches,
// negated or not. Rollouts bucket a context by the SHA-1 of "flagKey.value", where
// value is the BucketBy attribute or the key, into 100000 buckets walked in the order
// of the weights: a context inside a 10% rollout stays inside at 50%, provided the
// growing variation is listed first (as progressive.PercentRollout does). A context
// without the BucketBy attribute falls in bucket 0, as in LaunchDarkly.
func (s *FlagStore) Evaluate(ref progressive.FlagRef, contextKey string, attrs map[string]string) (string, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	st, err := s.lookup(ref)
	if err != nil {
		return "", err
	}
	f := &st.flag
	if !f.On {
		return variationID(f, f.OffVariation), nil
	}
	for _, t := range f.Targets {
		if slices.Contains(t.Keys, contextKey) {
			return variationID(f, t.Variation), nil
		}
	}
	attr := func(name string) (string, bool) {
		if name == "key" || name == "" {
			return contextKey, true
		}
		v, ok := attrs[name]
		return v, ok
	}
	for _, r := range f.Rules {
		if !s.ruleMatches(r, contextKey, attr) {
			continue
		}
		if r.Rollout != nil {
			return variationID(f, bucketVariation(f.Ref.Key, *r.Rollout, attr)), nil
		}
		return variationID(f, r.Variation), nil
	}
	if len(f.Fallthrough.Weights) == 0 {
		return variationID(f, f.OffVariation), nil
	}
	return variationID(f, bucketVariation(f.Ref.Key, f.Fallthrough, attr)), nil
}

func (s *FlagStore) ruleMatches(r progressive.FlagRule, key string, attr func(string) (string, bool)) bool {
	if r.Segment != "" && !s.segments[r.Segment][key] {
		return false
	}
	for _, c := range r.Clauses {
		v, ok := attr(c.Attribute)
		if !ok {
			return false
		}
		if s.clauseMatches(c, v) == c.Negate {
			return false
		}
	}
	return true
}

func (s *FlagStore) clauseMatches(c progressive.Clause, v string) bool {
	for _, want := range c.Values {
		var hit bool
		switch c.Op {
		case "", OpIn:
			hit = v == want
		case OpStartsWith:
			hit = strings.HasPrefix(v, want)
		case OpEndsWith:
			hit = strings.HasSuffix(v, want)
		case OpContains:
			hit = strings.Contains(v, want)
		case OpMatches:
			re := s.regexps[want]
			hit = re != nil && re.MatchString(v)
		}
		if hit {
			return true
		}
	}
	return false
}

// Bucket returns the rollout bucket, in [0, 100000), of value for flagKey.
func Bucket(flagKey, value string) int {
	sum := sha1.Sum([]byte(flagKey + "." + value))
	// The hash's first 64 bits as a fraction of 2^64, scaled to the buckets.
	hi, _ := bits.Mul64(binary.BigEndian.Uint64(sum[:8]), bucketScale)
	return int(hi)
}

func bucketVariation(flagKey string, r progressive.Rollout, attr func(string) (string, bool)) string {
	bucket := 0
	if v, ok := attr(r.BucketBy); ok {
		bucket = Bucket(flagKey, v)
	}
	var cum float64
	for _, vw := range r.Weights {
		cum += vw.Weight * bucketScale / 100
		if float64(bucket) < cum {
			return vw.Variation
		}
	}
	// Rounding left the last bucket unclaimed: it belongs to the last variation.
	return r.Weights[len(r.Weights)-1].Variation
}

// variationID resolves an id or name to the variation's id.
func variationID(f *progressive.Flag, idOrName string) string {
	if v, ok := f.Variation(idOrName); ok {
		return v.ID
	}
	return idOrName
}

func checkVariation(p *progressive.Problems, f progressive.Flag, field, idOrName string) {
	if _, ok := f.Variation(idOrName); ok {
		return
	}
	known := make([]string, 0, len(f.Variations))
	for _, v := range f.Variations {
		known = append(known, v.ID)
	}
	p.Add(field, idOrName, "unknown variation of flag %s (known: %s)", f.Ref, strings.Join(known, ", "))
}

func (s *FlagStore) checkRollout(p *progressive.Problems, f progressive.Flag, field string, r progressive.Rollout) {
	if err := r.Validate(); err != nil {
		p.Merge(field, err)
		return
	}
	for i, vw := range r.Weights {
		checkVariation(p, f, fmt.Sprintf("%s.weights[%d].variation", field, i), vw.Variation)
	}
}

// checkRules validates rules and compiles their regular expressions into the cache.
func (s *FlagStore) checkRules(p *progressive.Problems, f progressive.Flag, rules []progressive.FlagRule) {
	for i, r := range rules {
		field := fmt.Sprintf("rules[%d]", i)
		switch {
		case r.Rollout != nil && r.Variation != "":
			p.Add(field+".variation", r.Variation, "set either variation or rollout, not both")
		case r.Rollout != nil:
			s.checkRollout(p, f, field+".rollout", *r.Rollout)
		case r.Variation != "":
			checkVariation(p, f, field+".variation", r.Variation)
		default:
			p.Add(field+".variation", nil, "set variation or rollout")
		}
		if r.Segment != "" {
			if _, ok := s.segments[r.Segment]; !ok {
				known := slices.Sorted(maps.Keys(s.segments))
				p.Add(field+".segment", r.Segment, "unknown segment (known: %s)", strings.Join(known, ", "))
			}
		}
		for j, c := range r.Clauses {
			cf := fmt.Sprintf("%s.clauses[%d]", field, j)
			if c.Attribute == "" {
				p.Add(cf+".attribute", nil, "must not be empty")
			}
			if len(c.Values) == 0 {
				p.Add(cf+".values", nil, "must list at least one value")
			}
			switch c.Op {
			case "", OpIn, OpStartsWith, OpEndsWith, OpContains:
			case OpMatches:
				for k, v := range c.Values {
					if _, ok := s.regexps[v]; ok {
						continue
					}
					re, err := regexp.Compile(v)
					if err != nil {
						p.Add(fmt.Sprintf("%s.values[%d]", cf, k), v, "not a regular expression: %v", err)
						continue
					}
					s.regexps[v] = re
				}
			default:
				p.Add(cf+".op", c.Op, "unknown operator (known: %s)", strings.Join(clauseOps, ", "))
			}
		}
	}
}

func cloneFlag(f progressive.Flag) progressive.Flag {
	f.Variations = slices.Clone(f.Variations)
	f.Fallthrough.Weights = slices.Clone(f.Fallthrough.Weights)
	targets := make([]progressive.FlagTarget, len(f.Targets))
	for i, t := range f.Targets {
		t.Keys = slices.Clone(t.Keys)
		targets[i] = t
	}
	if f.Targets != nil {
		f.Targets = targets
	}
	f.Rules = cloneRules(f.Rules)
	return f
}

func cloneRules(rules []progressive.FlagRule) []progressive.FlagRule {
	if rules == nil {
		return nil
	}
	out := make([]progressive.FlagRule, len(rules))
	for i, r := range rules {
		cl := make([]progressive.Clause, len(r.Clauses))
		for j, c := range r.Clauses {
			c.Values = slices.Clone(c.Values)
			cl[j] = c
		}
		if r.Clauses != nil {
			r.Clauses = cl
		}
		if r.Rollout != nil {
			ro := *r.Rollout
			ro.Weights = slices.Clone(ro.Weights)
			r.Rollout = &ro
		}
		out[i] = r
	}
	return out
}
