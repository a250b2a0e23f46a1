package stats

import (
	"errors"
	"fmt"
	"math"
)

// Sentinel errors. Every error returned by the statistical functions and
// the sequential test wraps one of them, so callers can branch with
// errors.Is.
var (
	// ErrEmptySample is returned when a sample has no (usable) observations.
	ErrEmptySample = errors.New("stats: empty sample")
	// ErrNonFinite is matched by *NonFiniteError: a sample contained NaN or
	// ±Inf where only finite values are accepted.
	ErrNonFinite = errors.New("stats: non-finite value")
	// ErrInvalidArgument reports an option or argument outside its domain.
	ErrInvalidArgument = errors.New("stats: invalid argument")
)

// NonFiniteError reports how many non-finite values a sample contained. It is
// returned by Clean under NonFiniteFail, and by MannWhitney and
// HodgesLehmann, which accept only finite data. errors.Is(err, ErrNonFinite)
// holds.
type NonFiniteError struct {
	// Sample names the offending sample ("x", "y"), or is empty for Clean.
	Sample string
	// Total is the number of values in the sample, finite or not.
	Total int
	// NaN, PosInf and NegInf count the non-finite values by kind.
	NaN, PosInf, NegInf int
}

// Count returns the number of non-finite values.
func (e *NonFiniteError) Count() int { return e.NaN + e.PosInf + e.NegInf }

func (e *NonFiniteError) Error() string {
	name := "sample"
	if e.Sample != "" {
		name = "sample " + e.Sample
	}
	return fmt.Sprintf("stats: %s has %d non-finite of %d values (%d NaN, %d +Inf, %d -Inf)",
		name, e.Count(), e.Total, e.NaN, e.PosInf, e.NegInf)
}

// Is makes errors.Is(err, ErrNonFinite) true.
func (e *NonFiniteError) Is(target error) bool { return target == ErrNonFinite }

// countNonFinite scans xs once; it returns nil (without allocating) when
// every value is finite.
func countNonFinite(sample string, xs []float64) *NonFiniteError {
	var nan, pos, neg int
	for _, v := range xs {
		switch {
		case math.IsNaN(v):
			nan++
		case math.IsInf(v, 1):
			pos++
		case math.IsInf(v, -1):
			neg++
		}
	}
	if nan+pos+neg == 0 {
		return nil
	}
	return &NonFiniteError{Sample: sample, Total: len(xs), NaN: nan, PosInf: pos, NegInf: neg}
}

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidArgument}, args...)...)
}
