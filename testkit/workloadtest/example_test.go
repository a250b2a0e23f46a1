package workloadtest_test

import (
	"fmt"

	"github.com/agentops/progressive/testkit/workloadtest"
)

// The behaviours every Workload must show, in the order Run checks them; the
// last one only for a progressive.Roller.
func Example() {
	for _, b := range workloadtest.Behaviours {
		fmt.Println(b.Name)
	}
	// Output:
	// DeployCanaryBesideStable
	// ScaleCanary
	// RollbackCanaryToZero
	// PromoteCanaryRelease
	// NeverReadyCanary
	// NegativeReplicasInvalid
	// RollerBatchesAndUndo
}
