package stats_test

import (
	"fmt"
	"math"

	"github.com/agentops/progressive/analysis/stats"
)

// A latency comparison: is the canary slower than the baseline, and by how
// much?
func Example() {
	canary := []float64{0.80, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46}
	baseline := []float64{1.15, 0.88, 0.90, 0.74, 1.21}

	test, err := stats.MannWhitney(canary, baseline, stats.MannWhitneyOptions{Alternative: stats.Greater})
	if err != nil {
		panic(err)
	}
	fmt.Printf("W = %g, p = %.4f (%v)\n", test.W, test.PValue, test.Method)

	shift, err := stats.HodgesLehmann(canary, baseline, stats.ShiftOptions{ConfLevel: 0.95})
	if err != nil {
		panic(err)
	}
	fmt.Printf("shift %.3f, 95%% CI [%.2f, %.2f], achieved %.3f\n",
		shift.Estimate, shift.Lower, shift.Upper, shift.AchievedConfLevel)
	// Output:
	// W = 35, p = 0.1272 (exact)
	// shift 0.305, 95% CI [-0.15, 0.76], achieved 0.960
}

func ExampleClean() {
	raw := []float64{12, 15, 11, math.NaN(), 14, 13, 250, 12}
	kept, report, err := stats.Clean(raw, stats.CleanOptions{Outliers: stats.OutliersIQR})
	if err != nil {
		panic(err)
	}
	fmt.Println(kept)
	fmt.Printf("dropped %d NaN, %d value(s) above the fence %.2f\n", report.NaN, report.OutliersHigh, report.UpperFence)
	// Output:
	// [12 15 11 14 13 12]
	// dropped 1 NaN, 1 value(s) above the fence 18.25
}

func ExampleRateSPRT() {
	test, err := stats.NewRateSPRT(stats.RateSPRTConfig{Alpha: 0.01, Beta: 0.05, MinRelativeIncrease: 1.5})
	if err != nil {
		panic(err)
	}
	// Per tick: canary errors, canary requests, baseline errors, baseline requests.
	ticks := [][4]int64{{3, 100, 9, 900}, {6, 100, 8, 900}, {5, 100, 10, 900}, {7, 100, 9, 900}}
	for _, tk := range ticks {
		v, err := test.Update(tk[0], tk[1], tk[2], tk[3])
		if err != nil {
			panic(err)
		}
		fmt.Println(v)
		if v.Decision.Terminal() {
			break
		}
	}
	// Output:
	// continue: log-likelihood ratio 0.631 is between ln(beta) = -2.996 and ln(1/alpha) = 4.605 at tick 1
	// continue: log-likelihood ratio 2.381 is between ln(beta) = -2.996 and ln(1/alpha) = 4.605 at tick 2
	// continue: log-likelihood ratio 3.676 is between ln(beta) = -2.996 and ln(1/alpha) = 4.605 at tick 3
	// regression: log-likelihood ratio 5.734 reached the rejection threshold ln(1/alpha) = 4.605 at tick 4
}
