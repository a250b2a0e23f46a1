package metrictest_test

import (
	"fmt"

	"github.com/agentops/progressive/testkit/metrictest"
)

// The behaviours every MetricSource must show, in the order Run checks them.
func Example() {
	for _, b := range metrictest.Behaviours {
		fmt.Println(b.Name)
	}
	// Output:
	// Name
	// Value
	// NoDataIsNotZero
	// NaNIsNotANumber
	// InvalidQueryFailsFast
	// UnreachableBackendIsTransient
	// CancelledContext
	// SeveralSeriesInvalid
}
