package istio_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentops/progressive/internal/testenv"
)

// env is the control plane shared by the tests of this package, with the Istio
// CRDs installed (their OpenAPI schemas validate what the router writes).
var env *testenv.Env

func TestMain(m *testing.M) {
	crds, err := istioCRDs()
	if err != nil {
		fmt.Fprintf(os.Stderr, "istio tests: %v\n", err)
		if testenv.Required() {
			os.Exit(1)
		}
		env = nil
		os.Exit(m.Run())
	}
	os.Exit(testenv.RunMain(m, testenv.Options{CRDs: []string{crds}}, &env))
}

// istioCRDs finds kubernetes/customresourcedefinitions.gen.yaml of the
// istio.io/api module this module builds with (a dependency of
// istio.io/client-go). When the module is not in the module cache yet, it is
// downloaded from outside this module, so that go.sum is left as it is.
func istioCRDs() (string, error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}|{{.Version}}", "istio.io/api").Output()
	if err != nil {
		return "", fmt.Errorf("go list -m istio.io/api: %w", err)
	}
	dir, version, _ := strings.Cut(strings.TrimSpace(string(out)), "|")
	if dir == "" {
		cmd := exec.Command("go", "mod", "download", "-json", "istio.io/api@"+version)
		cmd.Dir = os.TempDir()
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GO111MODULE=on")
		out, err := cmd.Output()
		if err != nil {
			return "", fmt.Errorf("go mod download istio.io/api@%s: %w", version, err)
		}
		var info struct{ Dir string }
		if err := json.Unmarshal(out, &info); err != nil || info.Dir == "" {
			return "", fmt.Errorf("go mod download istio.io/api@%s: no directory in %s", version, out)
		}
		dir = info.Dir
	}
	path := filepath.Join(dir, "kubernetes", "customresourcedefinitions.gen.yaml")
	if _, err := os.Stat(path); err != nil {
		return "", err
	}
	return path, nil
}
