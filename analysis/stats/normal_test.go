package stats

import (
	"math"
	"testing"
)

func TestNormalReferenceValues(t *testing.T) {
	// Well-known values of R's qnorm/pnorm.
	near(t, "qnorm(0.975)", normalQuantile(0.975), 1.959963984540054, 1e-15)
	near(t, "qnorm(0.995)", normalQuantile(0.995), 2.5758293035489004, 1e-15)
	near(t, "qnorm(0.01)", normalQuantile(0.01), -2.3263478740408408, 1e-15)
	near(t, "qnorm(0.5)", normalQuantile(0.5), 0, 1e-300)
	near(t, "pnorm(1.96)", normalCDF(1.96), 0.9750021048517795, 1e-16)
	relNear(t, "pnorm(-10)", normalCDF(-10), 7.619853024160527e-24, 1e-13)
	relNear(t, "upper tail at 10", normalSF(10), 7.619853024160527e-24, 1e-13)
	if !math.IsInf(normalQuantile(0), -1) || !math.IsInf(normalQuantile(1), 1) || !math.IsNaN(normalQuantile(math.NaN())) {
		t.Error("normalQuantile edge cases")
	}
}

func TestNormalQuantileInvertsCDF(t *testing.T) {
	for _, p := range []float64{1e-300, 1e-20, 1e-12, 1e-6, 0.001, 0.025, 0.1, 0.3, 0.5, 0.7, 0.9, 0.975, 0.999} {
		z := normalQuantile(p)
		if p < 0.5 {
			relNear(t, "pnorm(qnorm(p))", normalCDF(z), p, 1e-13)
		} else {
			relNear(t, "1-pnorm(qnorm(p))", normalSF(z), 1-p, 1e-12)
		}
	}
}
