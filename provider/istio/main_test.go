package istio_test

import (
	"os"
	"testing"

	"github.com/agentops/progressive/internal/testenv"
)

// env is the control plane shared by the tests of this package, with the Istio
// CRDs installed (their OpenAPI schemas validate what the router writes).
var env *testenv.Env

func TestMain(m *testing.M) {
	os.Exit(testenv.RunMain(m, testenv.Options{ModuleCRDs: []testenv.ModuleCRD{testenv.IstioCRDs()}}, &env))
}
