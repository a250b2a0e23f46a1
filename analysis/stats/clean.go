package stats

import (
	"fmt"
	"math"
	"slices"
)

// NonFinitePolicy says what Clean does with NaN and ±Inf values.
type NonFinitePolicy int

const (
	// NonFiniteDrop removes NaN and ±Inf and counts them in CleanReport.
	NonFiniteDrop NonFinitePolicy = iota
	// NonFiniteFail makes Clean return a *NonFiniteError (which says how
	// many values of each kind were found) if there is any.
	NonFiniteFail
)

var nonFiniteNames = []string{"drop", "fail"}

func (p NonFinitePolicy) String() string {
	return enumString(nonFiniteNames, int(p), "NonFinitePolicy")
}

// MarshalText encodes the policy as "drop" or "fail".
func (p NonFinitePolicy) MarshalText() ([]byte, error) {
	return enumMarshal(nonFiniteNames, int(p), "NonFinitePolicy")
}

// UnmarshalText accepts the names written by MarshalText.
func (p *NonFinitePolicy) UnmarshalText(b []byte) error {
	return enumUnmarshal(nonFiniteNames, b, "NonFinitePolicy", (*int)(p))
}

// OutlierMethod selects the outlier filter of Clean.
type OutlierMethod int

const (
	// OutliersKeep keeps every finite value.
	OutliersKeep OutlierMethod = iota
	// OutliersIQR applies Tukey's fences: values outside
	// [Q1 - k*IQR, Q3 + k*IQR] are removed, k = IQRFactor.
	OutliersIQR
	// OutliersTrim removes values below the TrimLower quantile and above the
	// 1 - TrimUpper quantile.
	OutliersTrim
)

var outlierNames = []string{"keep", "iqr", "trim"}

func (m OutlierMethod) String() string { return enumString(outlierNames, int(m), "OutlierMethod") }

// MarshalText encodes the method as "keep", "iqr" or "trim".
func (m OutlierMethod) MarshalText() ([]byte, error) {
	return enumMarshal(outlierNames, int(m), "OutlierMethod")
}

// UnmarshalText accepts the names written by MarshalText.
func (m *OutlierMethod) UnmarshalText(b []byte) error {
	return enumUnmarshal(outlierNames, b, "OutlierMethod", (*int)(m))
}

// CleanOptions configures Clean. The zero value drops non-finite values and
// keeps everything else.
type CleanOptions struct {
	// NonFinite is the policy for NaN and ±Inf.
	NonFinite NonFinitePolicy `json:"non_finite"`
	// Outliers selects the outlier filter.
	Outliers OutlierMethod `json:"outliers"`
	// IQRFactor is Tukey's k for OutliersIQR; 0 means 1.5 (3 is the usual
	// "far out" choice).
	IQRFactor float64 `json:"iqr_factor,omitempty"`
	// TrimLower and TrimUpper are the fractions trimmed at each end by
	// OutliersTrim, each in [0, 0.5); e.g. TrimUpper = 0.01 drops the values
	// above the 99th percentile. 0 leaves that end alone.
	TrimLower float64 `json:"trim_lower,omitempty"`
	TrimUpper float64 `json:"trim_upper,omitempty"`
}

// CleanReport says what Clean removed.
type CleanReport struct {
	// Input is the number of values given.
	Input int `json:"input"`
	// NaN and Inf count the non-finite values found (Inf counts both signs).
	NaN int `json:"nan"`
	Inf int `json:"inf"`
	// OutliersLow and OutliersHigh count values removed below the lower
	// fence and above the upper fence.
	OutliersLow  int `json:"outliers_low"`
	OutliersHigh int `json:"outliers_high"`
	// Kept is the number of values returned.
	Kept int `json:"kept"`
	// LowerFence and UpperFence are the inclusive bounds applied by the
	// outlier filter; both are 0 when no filter ran.
	LowerFence float64 `json:"lower_fence"`
	UpperFence float64 `json:"upper_fence"`
}

// Dropped returns the total number of removed values.
func (r CleanReport) Dropped() int { return r.Input - r.Kept }

// Clean prepares one sample for the rank tests: it handles non-finite values
// per opts.NonFinite and then applies the outlier filter to the finite
// values. The input is not modified; the result is a new slice in input
// order. It allocates the result and, when an outlier filter runs, one
// sorted scratch copy.
//
// Quantiles are R's default (type 7, linear interpolation; see Quantile).
// Fences are inclusive and act on values, never on positions, so tied
// values are always kept or removed together: with ties at a fence, trimming
// can remove fewer than the nominal fraction, and no tie is ever split
// arbitrarily. A caveat for heavily tied (e.g. millisecond-quantised)
// latencies: when more than half the values are equal the IQR is 0 and
// Tukey's fences remove every value different from that mode; prefer
// OutliersTrim there, and check the fences in the report.
//
// Outlier removal can hide exactly the tail regression a canary analysis is
// looking for; the rank tests are already insensitive to the size of
// extreme values, so filter only values known to be artefacts. Apply the
// same options to canary and baseline.
//
// If nothing is left, Clean returns the (empty) result together with
// ErrEmptySample.
func Clean(xs []float64, opts CleanOptions) ([]float64, CleanReport, error) {
	rep := CleanReport{Input: len(xs)}
	k := opts.IQRFactor
	if k == 0 {
		k = 1.5
	}
	switch {
	case opts.NonFinite != NonFiniteDrop && opts.NonFinite != NonFiniteFail:
		return nil, rep, invalidf("non-finite policy %v", opts.NonFinite)
	case opts.Outliers < OutliersKeep || opts.Outliers > OutliersTrim:
		return nil, rep, invalidf("outlier method %v", opts.Outliers)
	case !(k > 0) || math.IsInf(k, 0):
		return nil, rep, invalidf("IQR factor %v", opts.IQRFactor)
	case !(opts.TrimLower >= 0 && opts.TrimLower < 0.5):
		return nil, rep, invalidf("TrimLower %v not in [0, 0.5)", opts.TrimLower)
	case !(opts.TrimUpper >= 0 && opts.TrimUpper < 0.5):
		return nil, rep, invalidf("TrimUpper %v not in [0, 0.5)", opts.TrimUpper)
	}

	if e := countNonFinite("", xs); e != nil {
		rep.NaN, rep.Inf = e.NaN, e.PosInf+e.NegInf
		if opts.NonFinite == NonFiniteFail {
			return nil, rep, e
		}
	}
	out := make([]float64, 0, len(xs)-rep.NaN-rep.Inf)
	for _, v := range xs {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			out = append(out, v)
		}
	}

	if opts.Outliers != OutliersKeep && len(out) > 0 {
		sorted := slices.Clone(out)
		slices.Sort(sorted)
		var lo, hi float64
		if opts.Outliers == OutliersIQR {
			q1, q3 := Quantile(sorted, 0.25), Quantile(sorted, 0.75)
			iqr := q3 - q1
			lo, hi = q1-k*iqr, q3+k*iqr
		} else {
			lo, hi = Quantile(sorted, opts.TrimLower), Quantile(sorted, 1-opts.TrimUpper)
		}
		rep.LowerFence, rep.UpperFence = lo, hi
		kept := out[:0]
		for _, v := range out {
			switch {
			case v < lo:
				rep.OutliersLow++
			case v > hi:
				rep.OutliersHigh++
			default:
				kept = append(kept, v)
			}
		}
		out = kept
	}
	rep.Kept = len(out)
	if len(out) == 0 {
		return out, rep, fmt.Errorf("%w: no value left after cleaning", ErrEmptySample)
	}
	return out, rep, nil
}

// Quantile returns the p-quantile of an ascending sorted, non-empty sample
// using R's default definition (type 7): with h = (n-1)p, the value
// interpolated linearly between sorted[floor(h)] and sorted[floor(h)+1].
// It returns NaN for an empty sample or p outside [0, 1].
func Quantile(sorted []float64, p float64) float64 {
	n := len(sorted)
	if n == 0 || !(p >= 0 && p <= 1) {
		return math.NaN()
	}
	h := float64(n-1) * p
	lo := int(h)
	if lo >= n-1 {
		return sorted[n-1]
	}
	frac := h - float64(lo)
	if frac == 0 {
		return sorted[lo]
	}
	return sorted[lo] + frac*(sorted[lo+1]-sorted[lo])
}
