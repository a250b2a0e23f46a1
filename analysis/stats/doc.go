// Package stats holds the pure statistics behind canary judgement: given
// measurements from a canary and from the baseline it runs against, is the
// canary worse? It depends on nothing but the standard library; everything
// here is a function of numbers, with no notion of metrics, clocks or
// deployments.
//
// # Comparing distributions: Mann-Whitney U
//
// Canary metrics such as latency are skewed, heavy-tailed, multi-modal and
// sprinkled with outliers, and canary and baseline are small samples taken
// over the same few minutes. A t-test would compare means, which a single
// slow request can move, and relies on normality. The Mann-Whitney U test
// (Wilcoxon rank-sum test), used for the same purpose by Netflix's Kayenta,
// only looks at ranks: it asks whether a random canary observation tends to
// exceed a random baseline observation. It is distribution-free under the
// null hypothesis, robust to outliers, invariant under monotone transforms
// (log-latency gives the same answer) and loses little power against the
// t-test even when the data are normal (asymptotic relative efficiency
// 3/π ≈ 0.955, and never below 0.864).
//
// MannWhitney follows R's wilcox.test(x, y) conventions, so results can be
// checked against R: W is the U statistic of x, exact p-values come from
// the exact permutation distribution of U (computed by dynamic programming,
// used when both samples have fewer than 50 values and there are no ties),
// and otherwise the normal approximation with tie and continuity correction
// applies. Use x = canary, y = baseline and Alternative Greater for "the
// canary is higher", e.g. slower.
//
// # How big is the shift: Hodges-Lehmann
//
// A p-value says whether there is a difference, not how large it is, and
// canary judgement needs both: a 0.2 ms latency increase can be highly
// significant and irrelevant. The Hodges-Lehmann estimator is the
// estimator that goes with the rank-sum test: the median of all n1*n2
// pairwise differences x_i - y_j. Under a location-shift model it estimates
// the shift; in general it is the median of the difference between a random
// canary and a random baseline observation (not the difference of the
// medians). Inverting the test gives a distribution-free confidence interval
// (Moses); HodgesLehmann reproduces R's wilcox.test(conf.int = TRUE)
// intervals, exact or normal, and finds order statistics of the pairwise
// differences without materialising them, in O((n1+n2) log(n1*n2)).
// A judge can then require, say, that the 98% lower bound of the latency
// shift exceed 5 ms before calling a regression.
//
// # Ties and dirty data
//
// Tied values receive midranks; they count ½ in U, shrink the variance
// (tie correction) and force the normal approximation, as in R. Clean
// removes NaN and ±Inf (or fails, saying how many there were) and can trim
// outliers by Tukey's IQR fences or by quantiles. Fences are applied to
// values, never to positions, so tied values are always kept or dropped
// together. Quantile implements R's default quantile definition.
//
// # Error rates, checked every tick: a sequential test
//
// Error rates arrive as counts per tick, and a runner wants to roll back as
// soon as the evidence is clear. Re-running a fixed-sample test at every tick
// and stopping at the first p < 0.01 inflates the false-alarm rate far
// beyond 1%: with enough looks, random fluctuations eventually cross any
// fixed threshold. RateSPRT is a sequential probability ratio test built so
// that peeking is allowed: its likelihood ratio is a martingale under the
// null hypothesis, and Ville's inequality bounds the probability that it
// ever crosses 1/α by α, whenever and however often one looks. It
// conditions on the number of errors in each tick, so the unknown baseline
// error rate drops out: given e errors, the canary's share is binomial with
// the canary's traffic share as success probability when healthy, and a
// larger one when its rate is r times the baseline's. The test stops with a
// regression (reject), healthy (accept, with missed-regression probability
// at most β at the minimum effect of interest) or asks for more data; its
// state is a plain JSON-serialisable struct, so a runner can persist it
// between ticks and resume after a restart.
package stats
