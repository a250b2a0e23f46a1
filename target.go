package progressive

import (
	"fmt"
	"strings"
)

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

// IsDNSSubdomain reports whether s is a DNS-1123 subdomain, what Kubernetes
// accepts as the name of most objects (and what rollout ids are): at most 253
// lower-case letters, digits, '-' and '.', starting and ending with a letter or
// digit, with no empty label.
func IsDNSSubdomain(s string) bool {
	if len(s) == 0 || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || !isDNSLabel(label) {
			return false
		}
	}
	return true
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

// Validate reports a version that cannot be a Kubernetes label value (it labels
// the canary's pods and its metrics, and is rendered into metric queries), an
// image reference with spaces or control characters, and a container name that
// is not a DNS-1123 label. An empty version is allowed here (a flag rollout needs
// none); plans that deploy require one.
func (r Release) Validate() error {
	var p Problems
	if r.Version != "" && !isLabelValue(r.Version) {
		p.Add("version", r.Version, "must be a Kubernetes label value: at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit")
	}
	if r.Image != "" && !isImageReference(r.Image) {
		p.Add("image", r.Image, "must be an image reference (registry/name:tag or @digest) without spaces or control characters, at most 4096 characters")
	}
	if r.Container != "" && !isDNSLabel(r.Container) {
		p.Add("container", r.Container, "must be a DNS-1123 label")
	}
	return p.Err()
}

func isLabelValue(s string) bool {
	if len(s) == 0 || len(s) > 63 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
		if !alnum && (c != '-' && c != '_' && c != '.' || i == 0 || i == len(s)-1) {
			return false
		}
	}
	return true
}

// isImageReference accepts the characters of the distribution reference grammar
// (lower- and upper-case letters in tags, digits, '.', '_', '-', '/', ':', '@')
// and rejects the rest; the registry is the judge of the details.
func isImageReference(s string) bool {
	if len(s) > 4096 || strings.HasPrefix(s, "/") || strings.HasSuffix(s, "/") || strings.HasSuffix(s, ":") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			c == '.' || c == '_' || c == '-' || c == '/' || c == ':' || c == '@'
		if !ok {
			return false
		}
	}
	return true
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
