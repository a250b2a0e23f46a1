package apifaults_test

import (
	"os"
	"testing"

	istioshared "github.com/agentops/progressive/examples/istio-shared"
	"github.com/agentops/progressive/internal/testenv"
)

// env is the control plane of this test binary, with the Istio CRDs: one per
// binary, a namespace per rollout. Without it the suite skips, or fails under
// CI=true.
var env *testenv.Env

func TestMain(m *testing.M) {
	os.Exit(istioshared.RunMain(m, &env))
}
