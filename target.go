package progressive

import "fmt"

// Target names the service a rollout changes. Name is the stable workload and the
// Service in front of it (payment-service); providers derive the names of the
// objects they manage from it (payment-service-canary, ...).
type Target struct {
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
}

func (t Target) String() string {
	if t.Namespace == "" {
		return t.Name
	}
	return t.Namespace + "/" + t.Name
}

// Validate reports a missing name or a name Kubernetes would refuse.
func (t Target) Validate() error {
	var p Problems
	if t.Name == "" {
		p.Add("name", nil, "must not be empty")
	} else if !isDNSLabel(t.Name) {
		p.Add("name", t.Name, "must be a DNS-1123 label (lower-case letters, digits and '-', at most 63 characters)")
	}
	if t.Namespace != "" && !isDNSLabel(t.Namespace) {
		p.Add("namespace", t.Namespace, "must be a DNS-1123 label")
	}
	return p.Err()
}

func isDNSLabel(s string) bool {
	if len(s) == 0 || len(s) > 63 {
		return false
	}
	for i, r := range s {
		alnum := (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9')
		if !alnum && (r != '-' || i == 0 || i == len(s)-1) {
			return false
		}
	}
	return true
}

// Release describes the new version being rolled out.
type Release struct {
	// Version is a short label for the new release (v2.0.0); it tells the canary's
	// metrics and objects apart from the stable ones.
	Version string `json:"version"`
	// Image replaces the image of Container in the stable pod template.
	Image string `json:"image,omitempty"`
	// Container names the container whose image changes; empty means the first one.
	Container string `json:"container,omitempty"`
}

func (r Release) String() string {
	if r.Image == "" {
		return r.Version
	}
	return fmt.Sprintf("%s (%s)", r.Version, r.Image)
}

// Role tells the two sides of a rollout apart.
type Role string

const (
	// Stable is the version serving production before the rollout (blue).
	Stable Role = "stable"
	// Canary is the new version (green).
	Canary Role = "canary"
)
