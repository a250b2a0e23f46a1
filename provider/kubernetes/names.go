package kubernetes

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"sort"
	"strings"

	"github.com/agentops/progressive"
)

// Labels and annotations the provider sets.
const (
	// RoleLabel tells the two sides' pods apart: "stable" on the pods of the
	// Deployment named by the target, "canary" on those of <name>-canary. The
	// Service selects one side by it, or both by leaving it out.
	RoleLabel = "progressive.agentops.io/role"
	// VersionLabel carries the release's Version (sanitised to a label value) on
	// pod templates the provider writes.
	VersionLabel = "progressive.agentops.io/version"
	// ReleaseAnnotation carries the release (version and image) on pod templates.
	ReleaseAnnotation = "progressive.agentops.io/release"
	// SelectorAnnotation keeps, on the Service, the selector it had before the
	// provider adopted it (JSON). The provider's selectors are it plus RoleLabel.
	SelectorAnnotation = "progressive.agentops.io/original-selector"
	// TargetAnnotation names the stable Deployment on the canary Deployment.
	TargetAnnotation = "progressive.agentops.io/target"
	// PreviousStrategyAnnotation keeps, on a Deployment being rolled in place, its
	// strategy before the first RollTo (JSON), which Undo restores.
	PreviousStrategyAnnotation = "progressive.agentops.io/previous-strategy"
	// UndoneToAnnotation on a Deployment is the revision its last Undo copied
	// back. The controller renumbers that revision as the newest, so an Undo
	// repeated after a lost answer or an unsaved state would find it gone; the
	// annotation makes the repeat a no-op. RollTo removes it.
	UndoneToAnnotation = "progressive.agentops.io/undone-to-revision"
	// ManagedByLabel (app.kubernetes.io/managed-by=progressive) marks objects the
	// provider created: the canary Deployment, state ConfigMaps and Jobs.
	ManagedByLabel = "app.kubernetes.io/managed-by"
	// ComponentLabel says which kind of provider object it is ("canary",
	// "rollout-state", "hook").
	ComponentLabel = "progressive.agentops.io/component"

	// RevisionAnnotation is the Deployment controller's revision number on
	// Deployments and ReplicaSets (what kubectl rollout history shows).
	RevisionAnnotation = "deployment.kubernetes.io/revision"
	// podTemplateHashLabel is added to ReplicaSets' templates by the controller.
	podTemplateHashLabel = "pod-template-hash"

	roleStable = string(progressive.Stable)
	roleCanary = string(progressive.Canary)
)

// CanaryName is the name of the canary Deployment of a target: <name>-canary.
func CanaryName(target progressive.Target) string { return target.Name + "-canary" }

// labelValue makes s a valid label value: at most 63 characters of [A-Za-z0-9-_.],
// starting and ending alphanumerically. A value that had to change gets a short
// hash so two releases do not collide.
func labelValue(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r < 128 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	out := strings.Trim(b.String(), "-_.")
	if out == s && len(out) <= 63 {
		return out
	}
	h := shortHash(s)
	if len(out) > 54 {
		out = strings.Trim(out[:54], "-_.")
	}
	if out == "" {
		return h
	}
	return out + "-" + h
}

func shortHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])[:8]
}

// dnsName makes a DNS-1123 label of at most max characters from parts, with a
// hash of the parts when anything had to change.
func dnsName(max int, parts ...string) string {
	joined := strings.Join(parts, "-")
	var b strings.Builder
	for _, r := range strings.ToLower(joined) {
		if r < 128 && (r >= 'a' && r <= 'z' || r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	out := strings.Trim(b.String(), "-")
	for strings.Contains(out, "--") {
		out = strings.ReplaceAll(out, "--", "-")
	}
	if out == joined && len(out) <= max {
		return out
	}
	h := shortHash(joined)
	if len(out) > max-9 {
		out = strings.TrimRight(out[:max-9], "-")
	}
	if out == "" {
		return "p-" + h
	}
	return out + "-" + h
}

func formatSelector(sel map[string]string) string {
	keys := make([]string, 0, len(sel))
	for k := range sel {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + sel[k]
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// withRole returns base plus RoleLabel=role; role "" returns base alone.
func withRole(base map[string]string, role string) map[string]string {
	out := maps.Clone(base)
	if out == nil {
		out = map[string]string{}
	}
	delete(out, RoleLabel)
	if role != "" {
		out[RoleLabel] = role
	}
	return out
}

func releaseJSON(r progressive.Release) string {
	b, _ := json.Marshal(r)
	return string(b)
}

func targetErr(t progressive.Target, what string) string {
	return fmt.Sprintf("kubernetes: %s %s", what, t)
}
