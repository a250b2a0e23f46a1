package stats

import "fmt"

// Alternative is the alternative hypothesis of a test or the side of a
// confidence interval. With x the canary and y the baseline, Greater means
// "the canary is shifted upwards" (e.g. higher latency).
type Alternative int

const (
	// TwoSided: the locations of x and y differ (R's "two.sided").
	TwoSided Alternative = iota
	// Less: x is stochastically smaller than y (R's "less").
	Less
	// Greater: x is stochastically larger than y (R's "greater").
	Greater
)

var alternativeNames = []string{"two-sided", "less", "greater"}

func (a Alternative) String() string { return enumString(alternativeNames, int(a), "Alternative") }

// MarshalText encodes the alternative as "two-sided", "less" or "greater".
func (a Alternative) MarshalText() ([]byte, error) {
	return enumMarshal(alternativeNames, int(a), "Alternative")
}

// UnmarshalText accepts the names written by MarshalText, plus R's
// "two.sided".
func (a *Alternative) UnmarshalText(b []byte) error {
	if string(b) == "two.sided" {
		*a = TwoSided
		return nil
	}
	return enumUnmarshal(alternativeNames, b, "Alternative", (*int)(a))
}

func (a Alternative) valid() bool { return a >= TwoSided && a <= Greater }

// ExactMode chooses between the exact null distribution of U and the normal
// approximation.
type ExactMode int

const (
	// ExactAuto follows R's default (exact = NULL): exact when both samples
	// have fewer than 50 observations and there are no ties.
	ExactAuto ExactMode = iota
	// ExactAlways uses the exact distribution whenever there are no ties and
	// n1*n2 <= MaxExactPairs. It is R's exact = TRUE, which also falls back
	// to the normal approximation on ties, but without R's unbounded cost
	// for large samples.
	ExactAlways
	// ExactNever always uses the normal approximation (R's exact = FALSE).
	ExactNever
)

var exactModeNames = []string{"auto", "always", "never"}

func (m ExactMode) String() string { return enumString(exactModeNames, int(m), "ExactMode") }

// MarshalText encodes the mode as "auto", "always" or "never".
func (m ExactMode) MarshalText() ([]byte, error) {
	return enumMarshal(exactModeNames, int(m), "ExactMode")
}

// UnmarshalText accepts the names written by MarshalText.
func (m *ExactMode) UnmarshalText(b []byte) error {
	return enumUnmarshal(exactModeNames, b, "ExactMode", (*int)(m))
}

func (m ExactMode) valid() bool { return m >= ExactAuto && m <= ExactNever }

// Method is the way a p-value or an interval was actually computed.
type Method int

const (
	// MethodExact: from the exact permutation distribution of U (no ties).
	MethodExact Method = iota + 1
	// MethodNormal: normal approximation with tie correction and, unless
	// disabled, continuity correction.
	MethodNormal
)

var methodNames = []string{"", "exact", "normal"}

func (m Method) String() string { return enumString(methodNames, int(m), "Method") }

// MarshalText encodes the method as "exact" or "normal".
func (m Method) MarshalText() ([]byte, error) {
	if m == 0 {
		return nil, fmt.Errorf("stats: cannot marshal zero Method")
	}
	return enumMarshal(methodNames, int(m), "Method")
}

// UnmarshalText accepts the names written by MarshalText.
func (m *Method) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		return fmt.Errorf("stats: empty Method")
	}
	return enumUnmarshal(methodNames, b, "Method", (*int)(m))
}

func enumString(names []string, v int, typ string) string {
	if v >= 0 && v < len(names) && names[v] != "" {
		return names[v]
	}
	return fmt.Sprintf("%s(%d)", typ, v)
}

func enumMarshal(names []string, v int, typ string) ([]byte, error) {
	if v >= 0 && v < len(names) && names[v] != "" {
		return []byte(names[v]), nil
	}
	return nil, fmt.Errorf("stats: cannot marshal %s(%d)", typ, v)
}

func enumUnmarshal(names []string, b []byte, typ string, dst *int) error {
	for i, n := range names {
		if n != "" && n == string(b) {
			*dst = i
			return nil
		}
	}
	return fmt.Errorf("stats: unknown %s %q", typ, b)
}
