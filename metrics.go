package progressive

import (
	"context"
	"time"
)

// Query is one rendered metric question. Expr is in the source's own language
// (PromQL for Prometheus, a series name for the simulator); the analysis package
// renders it from a Check's template.
type Query struct {
	// Name is the check the query belongs to, for messages.
	Name string `json:"name,omitempty"`
	Expr string `json:"expr"`
	// Target and Role say whose metrics the expression asks for; sources that do
	// not template the expression (the simulator) use them directly.
	Target Target `json:"target"`
	Role   Role   `json:"role,omitempty"`
	// Time is the evaluation instant; zero means now.
	Time time.Time `json:"time,omitempty"`
	// Timeout bounds this one query; zero means the source's default.
	Timeout time.Duration `json:"timeout,omitempty"`
}

// ResultStatus tells a usable value apart from the answers that must never count as
// a pass.
type ResultStatus string

const (
	// StatusValue means Value holds one finite-or-infinite number.
	StatusValue ResultStatus = "value"
	// StatusNoData means the query matched no series (for example a canary that
	// receives no traffic yet).
	StatusNoData ResultStatus = "no-data"
	// StatusNaN means the query produced NaN, typically 0/0 when nothing was served.
	StatusNaN ResultStatus = "nan"
)

// Sample is one timestamped value.
type Sample struct {
	Time  time.Time `json:"time"`
	Value float64   `json:"value"`
}

// Result is the answer to one instant query.
type Result struct {
	Status ResultStatus `json:"status"`
	Value  float64      `json:"value"`
	Time   time.Time    `json:"time"`
}

// MetricSource answers instant queries. Errors wrap ErrInvalid for a query the
// backend rejects (fail fast, before traffic moves) and ErrTransient for an
// unreachable or overloaded backend. Several series where one was expected is an
// ErrInvalid naming their labels.
type MetricSource interface {
	Name() string
	Query(ctx context.Context, q Query) (Result, error)
}

// RangeQuerier is implemented by sources that return the samples of a window, which
// statistical judges compare between canary and baseline.
type RangeQuerier interface {
	QueryRange(ctx context.Context, q Query, start, end time.Time, step time.Duration) ([]Sample, error)
}
