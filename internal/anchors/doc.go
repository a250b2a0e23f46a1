// Package anchors runs the real Flagger and Argo Rollouts controllers beside
// progressive on the test control plane, so the comparison with them is
// measured on the tools themselves rather than on models of their rules.
//
// Each tool is built from its own module source at a pinned version (Build),
// as its project builds its release, and cached under .cache/anchors.
package anchors
