package controlplane

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// ModuleCRD names a CRD file inside a Go module: Path is relative to the
// module's root, one element per directory.
type ModuleCRD struct {
	Module string
	Path   []string
}

// IstioCRDs are the CRDs of the istio.io/api module (VirtualService,
// DestinationRule and the rest of Istio's API).
func IstioCRDs() ModuleCRD {
	return ModuleCRD{"istio.io/api", []string{"kubernetes", "customresourcedefinitions.gen.yaml"}}
}

// HTTPRouteCRD is the standard-channel HTTPRoute CRD of sigs.k8s.io/gateway-api.
func HTTPRouteCRD() ModuleCRD {
	return ModuleCRD{"sigs.k8s.io/gateway-api", []string{"config", "crd", "standard", "gateway.networking.k8s.io_httproutes.yaml"}}
}

// ModuleFile returns the path of a file inside a module of this build's
// module graph (a CRD manifest shipped with its Go types, say: the Istio,
// Gateway API and SMI CRDs come that way), at the version go.mod selects. A
// module that is in the graph but not in the module cache yet is downloaded
// from outside this module, so that go.sum is left as it is. It runs the go
// command, so the working directory must be inside this module (as it is for
// go test and go run).
func ModuleFile(module string, elem ...string) (string, error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}|{{.Version}}", module).Output()
	if err != nil {
		return "", fmt.Errorf("controlplane: go list -m %s (run from inside the module): %w", module, err)
	}
	dir, version, _ := strings.Cut(strings.TrimSpace(string(out)), "|")
	if dir == "" {
		cmd := exec.Command("go", "mod", "download", "-json", module+"@"+version)
		cmd.Dir = os.TempDir()
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GO111MODULE=on")
		out, err := cmd.Output()
		if err != nil {
			return "", fmt.Errorf("controlplane: go mod download %s@%s: %w", module, version, err)
		}
		var info struct{ Dir string }
		if err := json.Unmarshal(out, &info); err != nil || info.Dir == "" {
			return "", fmt.Errorf("controlplane: go mod download %s@%s: no directory in %s", module, version, out)
		}
		dir = info.Dir
	}
	path := filepath.Join(append([]string{dir}, elem...)...)
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("controlplane: %s@%s: %w", module, version, err)
	}
	return path, nil
}
