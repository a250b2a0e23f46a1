package progressive

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Sentinel errors that every package of the SDK wraps with %w, so callers can tell
// a mistake in the configuration (fix it, retrying will not help) from a passing
// fault (retry, hold, or roll back).
var (
	// ErrInvalid marks configuration errors: a bad plan, a malformed query, an
	// unknown name. Retrying the same call fails the same way.
	ErrInvalid = errors.New("invalid configuration")
	// ErrTransient marks faults that may go away: an unreachable backend, a timeout,
	// a 5xx answer, a rate limit.
	ErrTransient = errors.New("transient failure")
	// ErrNotFound marks a referenced object (Deployment, flag, route) that does not exist.
	ErrNotFound = errors.New("not found")
	// ErrUnsupported marks an operation the provider cannot perform, such as a
	// read-only flag store asked to write or a router without mirroring.
	ErrUnsupported = errors.New("unsupported")
	// ErrConflict marks a write that lost an optimistic-concurrency race.
	ErrConflict = errors.New("conflict")
)

// IsTransient reports whether err is worth retrying.
func IsTransient(err error) bool { return errors.Is(err, ErrTransient) }

// IsInvalid reports whether err is a configuration error.
func IsInvalid(err error) bool { return errors.Is(err, ErrInvalid) }

// FieldError is one problem found in a configuration value, named by its field path
// (for example "steps[2].setWeight.weight").
type FieldError struct {
	Field  string `json:"field"`
	Value  any    `json:"value,omitempty"`
	Reason string `json:"reason"`
}

func (e FieldError) Error() string {
	if e.Value == nil {
		return fmt.Sprintf("%s: %s", e.Field, e.Reason)
	}
	return fmt.Sprintf("%s: %s (got %s)", e.Field, e.Reason, formatValue(e.Value))
}

// Unwrap makes every FieldError a configuration error.
func (e FieldError) Unwrap() error { return ErrInvalid }

// maxShownValue bounds the bytes of an offending value an error message shows:
// a 64 KiB query quoted whole made a 64 KiB message for logs, events and the
// terminal. The value itself stays whole in FieldError.Value.
const maxShownValue = 512

// formatValue shows v for a message: a string quoted, anything else with %v, cut
// after maxShownValue bytes (on a character boundary) with the full length
// appended: "select …"… (65536 bytes).
func formatValue(v any) string {
	if s, ok := v.(string); ok {
		if len(s) <= maxShownValue {
			return strconv.Quote(s)
		}
		return strconv.Quote(s[:cutAt(s, maxShownValue)]) + fmt.Sprintf("… (%d bytes)", len(s))
	}
	s := fmt.Sprintf("%v", v)
	if len(s) <= maxShownValue {
		return s
	}
	return s[:cutAt(s, maxShownValue)] + fmt.Sprintf("… (%d bytes)", len(s))
}

// cutAt returns n, or less so that s[:n] does not split a UTF-8 sequence.
func cutAt(s string, n int) int {
	for i := n; i > n-utf8.UTFMax && i > 0; i-- {
		if utf8.RuneStart(s[i]) {
			return i
		}
	}
	return n
}

// ValidationError lists every problem found in one value, so that a user fixes them
// all in one pass instead of one per run.
type ValidationError struct {
	Problems []FieldError `json:"problems"`
}

func (e *ValidationError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d problem(s) found", len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n  - ")
		b.WriteString(p.Error())
	}
	return b.String()
}

// Unwrap makes a ValidationError a configuration error.
func (e *ValidationError) Unwrap() error { return ErrInvalid }

// Problems collects FieldErrors under a path prefix. Its zero value is ready to use.
type Problems struct {
	list []FieldError
}

// Add records a problem at field with the offending value.
func (p *Problems) Add(field string, value any, reason string, args ...any) {
	if len(args) > 0 {
		reason = fmt.Sprintf(reason, args...)
	}
	p.list = append(p.list, FieldError{Field: field, Value: value, Reason: reason})
}

// Merge adds the problems of err (a *ValidationError or a FieldError) under prefix.
// Any other non-nil error is recorded as a problem of prefix itself.
func (p *Problems) Merge(prefix string, err error) {
	if err == nil {
		return
	}
	var ve *ValidationError
	if errors.As(err, &ve) {
		for _, fe := range ve.Problems {
			fe.Field = joinField(prefix, fe.Field)
			p.list = append(p.list, fe)
		}
		return
	}
	var fe FieldError
	if errors.As(err, &fe) {
		fe.Field = joinField(prefix, fe.Field)
		p.list = append(p.list, fe)
		return
	}
	p.list = append(p.list, FieldError{Field: prefix, Reason: err.Error()})
}

func joinField(prefix, field string) string {
	switch {
	case prefix == "":
		return field
	case field == "":
		return prefix
	case strings.HasPrefix(field, "["):
		return prefix + field
	default:
		return prefix + "." + field
	}
}

// Len reports how many problems were recorded.
func (p *Problems) Len() int { return len(p.list) }

// Err returns nil when nothing was recorded, otherwise a *ValidationError.
func (p *Problems) Err() error {
	if len(p.list) == 0 {
		return nil
	}
	return &ValidationError{Problems: append([]FieldError(nil), p.list...)}
}
