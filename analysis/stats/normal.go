package stats

import "math"

// normalCDF returns P(Z <= z) for a standard normal Z. math.Erfc keeps full
// relative precision far into the lower tail.
func normalCDF(z float64) float64 { return 0.5 * math.Erfc(-z/math.Sqrt2) }

// normalSF returns P(Z > z), the upper tail, without the cancellation of
// 1 - normalCDF(z).
func normalSF(z float64) float64 { return 0.5 * math.Erfc(z/math.Sqrt2) }

// normalQuantile returns z such that P(Z <= z) = p (R's qnorm). It returns
// -Inf for p <= 0, +Inf for p >= 1 and NaN for NaN.
//
// Acklam's rational approximation (relative error < 1.2e-9) is refined by
// one Halley step against the Erfc-based CDF of the lower tail, which gives
// full double precision down to p ~ 1e-300.
func normalQuantile(p float64) float64 {
	switch {
	case math.IsNaN(p):
		return math.NaN()
	case p <= 0:
		return math.Inf(-1)
	case p >= 1:
		return math.Inf(1)
	case p > 0.5:
		return -normalQuantile(1 - p) // 1-p is exact here
	}
	var x float64
	if p < 0.02425 {
		q := math.Sqrt(-2 * math.Log(p))
		x = (((((-7.784894002430293e-03*q-3.223964580411365e-01)*q-2.400758277161838e+00)*q-2.549732539343734e+00)*q+4.374664141464968e+00)*q + 2.938163982698783e+00) /
			((((7.784695709041462e-03*q+3.224671290700398e-01)*q+2.445134137142996e+00)*q+3.754408661907416e+00)*q + 1)
	} else {
		q := p - 0.5
		r := q * q
		x = (((((-3.969683028665376e+01*r+2.209460984245205e+02)*r-2.759285104469687e+02)*r+1.383577518672690e+02)*r-3.066479806614716e+01)*r + 2.506628277459239e+00) * q /
			(((((-5.447609879822406e+01*r+1.615858368580409e+02)*r-1.556989798598866e+02)*r+6.680131188771972e+01)*r-1.328068155288572e+01)*r + 1)
	}
	// Halley step: e is the CDF error, u = e / φ(x).
	e := normalCDF(x) - p
	u := e * math.Sqrt(2*math.Pi) * math.Exp(x*x/2)
	return x - u/(1+x*u/2)
}
