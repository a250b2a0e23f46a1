package stats

import (
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
)

func TestQuantileMatchesRType7(t *testing.T) {
	one10 := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	// R: quantile(1:10, c(0, .25, .5, .9, 1)) -> 1, 3.25, 5.5, 9.1, 10
	for _, c := range []struct{ p, want float64 }{{0, 1}, {0.25, 3.25}, {0.5, 5.5}, {0.9, 9.1}, {1, 10}} {
		near(t, "quantile(1:10)", Quantile(one10, c.p), c.want, 1e-12)
	}
	// R: quantile(c(1, 2, 4, 7), .5) -> 3; a single value is every quantile.
	near(t, "median of 4", Quantile([]float64{1, 2, 4, 7}, 0.5), 3, 0)
	near(t, "single", Quantile([]float64{42}, 0.3), 42, 0)
	for _, p := range []float64{-0.1, 1.1, math.NaN()} {
		if !math.IsNaN(Quantile(one10, p)) {
			t.Errorf("Quantile(p=%v) should be NaN", p)
		}
	}
	if !math.IsNaN(Quantile(nil, 0.5)) {
		t.Error("empty")
	}
}

func TestCleanNonFinite(t *testing.T) {
	in := []float64{1, math.NaN(), 3, math.Inf(1), 2, math.Inf(-1), math.NaN(), 5}
	orig := slices.Clone(in)
	out, rep, err := Clean(in, CleanOptions{})
	mustNoErr(t, err)
	if !slices.Equal(out, []float64{1, 3, 2, 5}) {
		t.Errorf("out %v: input order must be kept", out)
	}
	if rep.Input != 8 || rep.NaN != 2 || rep.Inf != 2 || rep.Kept != 4 || rep.Dropped() != 4 {
		t.Errorf("report %+v", rep)
	}
	if !slices.EqualFunc(in, orig, func(a, b float64) bool { return a == b || (math.IsNaN(a) && math.IsNaN(b)) }) {
		t.Error("input modified")
	}

	_, rep, err = Clean(in, CleanOptions{NonFinite: NonFiniteFail})
	var nf *NonFiniteError
	if !errors.Is(err, ErrNonFinite) || !errors.As(err, &nf) || nf.Count() != 4 || nf.NaN != 2 || nf.PosInf != 1 || nf.NegInf != 1 {
		t.Fatalf("fail policy: %v", err)
	}
	if !strings.Contains(err.Error(), "4 non-finite of 8 values") {
		t.Errorf("message must say how many: %q", err)
	}
	if rep.NaN != 2 || rep.Inf != 2 {
		t.Errorf("report on failure %+v", rep)
	}

	out, _, err = Clean([]float64{1, 2}, CleanOptions{NonFinite: NonFiniteFail})
	mustNoErr(t, err)
	if len(out) != 2 {
		t.Error("clean data must pass the fail policy")
	}
	if _, _, err := Clean([]float64{math.NaN()}, CleanOptions{}); !errors.Is(err, ErrEmptySample) {
		t.Errorf("nothing left: %v", err)
	}
}

func TestCleanIQR(t *testing.T) {
	// 1..10 plus 30 and -20. Sorted: -20, 1..10, 30. Type 7 on 12 values:
	// Q1 at h = 2.75 -> 2.75, Q3 at h = 8.25 -> 8.25; IQR = 5.5, fences
	// 2.75 - 8.25 = -5.5 and 8.25 + 8.25 = 16.5 (k = 1.5): -20 and 30 go.
	in := []float64{30, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, -20}
	out, rep, err := Clean(in, CleanOptions{Outliers: OutliersIQR})
	mustNoErr(t, err)
	near(t, "lower fence", rep.LowerFence, -5.5, 1e-12)
	near(t, "upper fence", rep.UpperFence, 16.5, 1e-12)
	if !slices.Equal(out, []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}) || rep.OutliersLow != 1 || rep.OutliersHigh != 1 {
		t.Errorf("out %v report %+v", out, rep)
	}
	// k = 4: fences -19.25 and 30.25: only -20 goes.
	out, rep, err = Clean(in, CleanOptions{Outliers: OutliersIQR, IQRFactor: 4})
	mustNoErr(t, err)
	if len(out) != 11 || rep.OutliersLow != 1 || rep.OutliersHigh != 0 || slices.Contains(out, -20) {
		t.Errorf("k=4: %v %+v", out, rep)
	}
	// Degenerate IQR with heavy ties: the documented caveat.
	tied := []float64{5, 5, 5, 5, 5, 5, 5, 6, 4, 100}
	out, rep, _ = Clean(tied, CleanOptions{Outliers: OutliersIQR})
	if rep.LowerFence != 5 || rep.UpperFence != 5 || !slices.Equal(out, []float64{5, 5, 5, 5, 5, 5, 5}) {
		t.Errorf("zero IQR: %v %+v", out, rep)
	}
}

func TestCleanTrimKeepsTies(t *testing.T) {
	// 20 values; trimming 10% at the top has its fence at the 0.9 quantile.
	in := make([]float64, 0, 20)
	for i := 1; i <= 16; i++ {
		in = append(in, float64(i))
	}
	in = append(in, 17, 17, 17, 100) // ties at the fence
	out, rep, err := Clean(in, CleanOptions{Outliers: OutliersTrim, TrimUpper: 0.1})
	mustNoErr(t, err)
	// quantile(in, 0.9): h = 17.1, between 17 and 17 -> 17. All three 17s are
	// kept (a tie is never split), only 100 goes: 1 value instead of 2.
	near(t, "upper fence", rep.UpperFence, 17, 0)
	if rep.OutliersHigh != 1 || rep.OutliersLow != 0 || len(out) != 19 || slices.Contains(out, 100) {
		t.Errorf("out %v report %+v", out, rep)
	}
	// Both ends, no ties: 1..100, trim 5% low and 5% high.
	var seq []float64
	for i := 100; i >= 1; i-- {
		seq = append(seq, float64(i))
	}
	out, rep, err = Clean(seq, CleanOptions{Outliers: OutliersTrim, TrimLower: 0.05, TrimUpper: 0.05})
	mustNoErr(t, err)
	// fences 5.95 and 95.05 -> keeps 6..95
	if len(out) != 90 || rep.OutliersLow != 5 || rep.OutliersHigh != 5 || out[0] != 95 || out[89] != 6 {
		t.Errorf("trim both: len %d %+v", len(out), rep)
	}
}

func TestCleanInvalidOptions(t *testing.T) {
	for _, o := range []CleanOptions{
		{NonFinite: 5}, {Outliers: 9}, {Outliers: OutliersIQR, IQRFactor: -1},
		{TrimLower: 0.5}, {TrimUpper: -0.1}, {TrimUpper: math.NaN()}, {IQRFactor: math.Inf(1)},
	} {
		if _, _, err := Clean([]float64{1}, o); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("%+v: %v", o, err)
		}
	}
}

func TestOptionsJSON(t *testing.T) {
	in := struct {
		Clean CleanOptions       `json:"clean"`
		MW    MannWhitneyOptions `json:"mw"`
		HL    ShiftOptions       `json:"hl"`
	}{
		Clean: CleanOptions{NonFinite: NonFiniteFail, Outliers: OutliersTrim, TrimUpper: 0.01},
		MW:    MannWhitneyOptions{Alternative: Greater, Exact: ExactNever},
		HL:    ShiftOptions{ConfLevel: 0.98, Alternative: Less, Exact: ExactAlways},
	}
	b, err := json.Marshal(in)
	mustNoErr(t, err)
	for _, want := range []string{`"non_finite":"fail"`, `"outliers":"trim"`, `"alternative":"greater"`, `"exact":"never"`, `"exact":"always"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("%s lacks %s", b, want)
		}
	}
	out := in
	out.Clean, out.MW, out.HL = CleanOptions{}, MannWhitneyOptions{}, ShiftOptions{}
	mustNoErr(t, json.Unmarshal(b, &out))
	if out != in {
		t.Errorf("round trip %+v", out)
	}
	var a Alternative
	mustNoErr(t, a.UnmarshalText([]byte("two.sided")))
	if a != TwoSided {
		t.Error("R's two.sided")
	}
	for _, bad := range []string{`{"mw":{"alternative":"sideways"}}`, `{"clean":{"outliers":"zap"}}`} {
		if err := json.Unmarshal([]byte(bad), &out); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	if _, err := Alternative(7).MarshalText(); err == nil {
		t.Error("invalid alternative marshalled")
	}
}
