package corpus_test

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/agentops/progressive"
)

// bad is one input an entry point must refuse.
type bad struct {
	// entry is the public entry point ("Plan.Validate", "strategy.Canary.Plan").
	entry string
	// name tells the case apart within entry.
	name string
	// field is the field path the error must name: exactly one of its
	// FieldErrors when it is a *progressive.ValidationError (or a FieldError),
	// otherwise a substring of its message.
	field string
	// secrets must not appear in the message.
	secrets []string
	// run calls the entry point; ctx ends at the case's deadline.
	run func(ctx context.Context) error
}

// caseDeadline bounds one case; a case still running twice as long hangs.
const caseDeadline = 5 * time.Second

// corpus gathers every family of cases.
func corpus() []bad {
	var all []bad
	for _, family := range [][]bad{
		rootCases(),
		jsonCases(),
		strategyCases(),
		analysisCases(),
		rolloutCases(),
		providerCases(),
	} {
		all = append(all, family...)
	}
	return all
}

func TestBadInputIsRefused(t *testing.T) {
	cases := corpus()
	seen := map[string]bool{}
	entries := map[string]int{}
	for _, c := range cases {
		id := c.entry + "/" + c.name
		if seen[id] {
			t.Fatalf("two cases are named %s", id)
		}
		seen[id] = true
		entries[c.entry]++
	}
	t.Logf("bad-input corpus: %d cases over %d entry points", len(cases), len(entries))
	keys := make([]string, 0, len(entries))
	for k := range entries {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		t.Logf("  %-45s %d", k, entries[k])
	}
	if len(cases) < 300 {
		t.Errorf("the corpus has %d cases, fewer than 300", len(cases))
	}
	for _, c := range cases {
		t.Run(c.entry+"/"+c.name, func(t *testing.T) { refused(t, c) })
	}
}

type outcome struct {
	err      error
	panicked any
	stack    []byte
}

// refused runs c under a deadline, recovering a panic, and checks its error.
func refused(t *testing.T, c bad) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), caseDeadline)
	defer cancel()
	done := make(chan outcome, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				done <- outcome{panicked: r, stack: debug.Stack()}
			}
		}()
		done <- outcome{err: c.run(ctx)}
	}()
	var o outcome
	select {
	case o = <-done:
	case <-time.After(2 * caseDeadline):
		t.Fatalf("hang: no answer after %s", 2*caseDeadline)
	}
	if o.panicked != nil {
		t.Fatalf("panic: %v\n%s", o.panicked, o.stack)
	}
	if o.err == nil {
		t.Fatalf("accepted: no error (the %s field should have been refused)", c.field)
	}
	if !errors.Is(o.err, progressive.ErrInvalid) {
		t.Errorf("the error does not wrap progressive.ErrInvalid: %T %v", o.err, o.err)
	}
	if ok, fields := names(o.err, c.field); !ok {
		t.Errorf("the error does not name %q (fields: %q): %v", c.field, fields, o.err)
	}
	msg := o.err.Error()
	for _, s := range c.secrets {
		if strings.Contains(msg, s) {
			t.Errorf("the error shows the secret %q: %s", s, msg)
		}
	}
	if len(msg) > 64<<10 {
		t.Errorf("the error is %d bytes long", len(msg))
	}
}

// names reports whether err names field, and the fields it names.
func names(err error, field string) (bool, []string) {
	var fields []string
	var ve *progressive.ValidationError
	if errors.As(err, &ve) {
		for _, p := range ve.Problems {
			if p.Field == field {
				return true, nil
			}
			fields = append(fields, p.Field)
		}
		return false, fields
	}
	var fe progressive.FieldError
	if errors.As(err, &fe) {
		return fe.Field == field, []string{fe.Field}
	}
	return strings.Contains(err.Error(), field), nil
}

// vary returns n cases of entry, one per value, each named by the value.
func vary[T any](entry, field string, values []T, run func(v T) error) []bad {
	out := make([]bad, 0, len(values))
	for i, v := range values {
		out = append(out, bad{
			entry: entry,
			name:  fmt.Sprintf("%s=%s#%d", field, label(v), i),
			field: field,
			run:   func(context.Context) error { return run(v) },
		})
	}
	return out
}

// label shortens a value for a subtest name.
func label(v any) string {
	s := fmt.Sprintf("%v", v)
	if len(s) > 24 {
		s = s[:24] + "..."
	}
	return s
}
