package workloadtest_test

import (
	"testing"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/provider/sim"
	"github.com/agentops/progressive/testkit/workloadtest"
)

// TestSimWorkload runs the suite against provider/sim's Workload, which is
// also a Roller and shows every change at once.
func TestSimWorkload(t *testing.T) {
	workloadtest.Run(t, func(t *testing.T) workloadtest.Setup {
		w := sim.NewWorkload(sim.Options{})
		target := progressive.Target{Namespace: "shop", Name: "checkout"}
		if err := w.AddService(target, sim.ServiceSpec{Replicas: 4, Version: "v1", Image: "shop/checkout:v1"}); err != nil {
			t.Fatal(err)
		}
		w.NeverReady("shop/checkout:v3-broken")
		return workloadtest.Setup{
			Workload:   w,
			Target:     target,
			Release:    progressive.Release{Version: "v2", Image: "shop/checkout:v2"},
			NeverReady: &progressive.Release{Version: "v3", Image: "shop/checkout:v3-broken"},
		}
	})
}

// notARoller hides the simulator's Roller methods, to run the suite's skip.
type notARoller struct{ progressive.Workload }

func TestWorkloadWithoutRoller(t *testing.T) {
	ran := 0
	workloadtest.Run(t, func(t *testing.T) workloadtest.Setup {
		ran++
		w := sim.NewWorkload(sim.Options{})
		target := progressive.Target{Namespace: "shop", Name: "checkout"}
		if err := w.AddService(target, sim.ServiceSpec{Replicas: 2, Version: "v1"}); err != nil {
			t.Fatal(err)
		}
		return workloadtest.Setup{Workload: notARoller{w}, Target: target, Release: progressive.Release{Version: "v2"}}
	})
	if ran != len(workloadtest.Behaviours) {
		t.Errorf("%d setups for %d behaviours", ran, len(workloadtest.Behaviours))
	}
}
