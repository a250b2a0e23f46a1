package controlplane

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// Pod selection for the kwok stages that Start installs.
//
// By default every pod scheduled to a fake node becomes Running and Ready at
// once (kwok's pod-ready stage). Two ways opt a pod out of that:
//
//   - Never ready: a pod whose label NeverReadyLabel is "true", or any of
//     whose containers has an image containing NeverReadyImageMarker (for
//     example "registry.example/app:v2-never-ready"), becomes Running with
//     Ready=False and ContainersReady=False and stays so (stage
//     NeverReadyStage). Use it to give a bad version of a workload whose
//     pods never pass readiness.
//   - Custom: a pod with label CustomStageLabel (any value) is left alone by
//     both built-in pod stages, so that a stage given in Options.ExtraStages
//     decides what happens to it (crash, delayed readiness, ...). kwok's
//     pod-delete stage still removes it when it is deleted.
const (
	// NeverReadyLabel, set to "true" on a pod, keeps it from ever becoming
	// Ready.
	NeverReadyLabel = "testenv.progressive/never-ready"
	// NeverReadyImageMarker in any container image of a pod keeps it from
	// ever becoming Ready.
	NeverReadyImageMarker = "never-ready"
	// CustomStageLabel on a pod hands it over to stages the test adds in
	// Options.ExtraStages.
	CustomStageLabel = "testenv.progressive/custom-stage"
)

// neverReadyQuery is a kwok (jq) selector key that yields a value for
// never-ready pods and nothing for the others. It must not fail on any pod:
// kwok treats a failing query as "no value".
const neverReadyQuery = `(.metadata.labels["` + NeverReadyLabel + `"] // empty | select(. == "true")), ` +
	`(.spec.containers[]? | .image | select(type == "string" and contains("` + NeverReadyImageMarker + `")))`

const customStageQuery = `.metadata.labels["` + CustomStageLabel + `"]`

// NeverReadyStage is the kwok Stage that makes never-ready pods (see
// NeverReadyLabel and NeverReadyImageMarker) Running but not Ready. Start
// always installs it.
const NeverReadyStage = `apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: testenv-pod-never-ready
spec:
  resourceRef:
    apiGroup: v1
    kind: Pod
  selector:
    matchExpressions:
    - key: '.metadata.deletionTimestamp'
      operator: 'DoesNotExist'
    - key: '.status.phase'
      operator: 'In'
      values:
      - 'Pending'
    - key: '` + customStageQuery + `'
      operator: 'DoesNotExist'
    - key: '` + neverReadyQuery + `'
      operator: 'Exists'
  next:
    statusTemplate: |
      {{ $now := Now }}
      conditions:
      - lastTransitionTime: {{ $now | Quote }}
        status: "True"
        type: Initialized
      - lastTransitionTime: {{ $now | Quote }}
        message: "containers with unready status (testenv never-ready pod)"
        reason: ContainersNotReady
        status: "False"
        type: Ready
      - lastTransitionTime: {{ $now | Quote }}
        message: "containers with unready status (testenv never-ready pod)"
        reason: ContainersNotReady
        status: "False"
        type: ContainersReady
      containerStatuses:
      {{ range .spec.containers }}
      - image: {{ .image | Quote }}
        name: {{ .name | Quote }}
        ready: false
        started: true
        restartCount: 0
        state:
          running:
            startedAt: {{ $now | Quote }}
      {{ end }}
      {{ $hostIPs := NodeIPsWith .spec.nodeName }}
      {{ with $hostIPs }}
      hostIP: {{ index . 0 | Quote }}
      hostIPs:
      {{ range . }}
      - ip: {{ . | Quote }}
      {{ end }}
      {{ end }}
      {{ $podIPs := PodIPsWith .spec.nodeName ( or .spec.hostNetwork false ) ( or .metadata.uid "" ) ( or .metadata.name "" ) ( or .metadata.namespace "" ) }}
      {{ with $podIPs }}
      podIP: {{ index . 0 | Quote }}
      podIPs:
      {{ range . }}
      - ip: {{ . | Quote }}
      {{ end }}
      {{ end }}
      phase: Running
      startTime: {{ $now | Quote }}
`

// stageConfig assembles the kwok configuration: kwok's own stages from
// stagesDir (pod-ready narrowed so it leaves never-ready and custom pods
// alone), NeverReadyStage, then the extra stages.
func stageConfig(stagesDir string, extra []string) ([]byte, error) {
	var docs [][]byte
	for _, f := range kwokStageFiles {
		path := stageFile(stagesDir, f)
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("controlplane: kwok stage: %w", err)
		}
		if filepath.Base(f) == "pod-ready.yaml" {
			if data, err = excludeFromStage(data,
				map[string]any{"key": neverReadyQuery, "operator": "DoesNotExist"},
				map[string]any{"key": customStageQuery, "operator": "DoesNotExist"},
			); err != nil {
				return nil, fmt.Errorf("controlplane: patching %s: %w", path, err)
			}
		}
		docs = append(docs, data)
	}
	docs = append(docs, []byte(NeverReadyStage))
	for i, e := range extra {
		split, err := splitYAML([]byte(e))
		if err != nil {
			return nil, fmt.Errorf("controlplane: Options.ExtraStages[%d]: %w", i, err)
		}
		for _, d := range split {
			var obj struct {
				Kind string `json:"kind"`
			}
			if err := yaml.Unmarshal(d, &obj); err != nil {
				return nil, fmt.Errorf("controlplane: Options.ExtraStages[%d]: %w", i, err)
			}
			if obj.Kind != "Stage" {
				return nil, fmt.Errorf("controlplane: Options.ExtraStages[%d]: kind %q, want Stage", i, obj.Kind)
			}
		}
		docs = append(docs, split...)
	}
	var out bytes.Buffer
	for i, d := range docs {
		if i > 0 {
			out.WriteString("---\n")
		}
		out.Write(bytes.TrimRight(d, "\n"))
		out.WriteString("\n")
	}
	return out.Bytes(), nil
}

// excludeFromStage appends match expressions to a stage's selector.
func excludeFromStage(data []byte, exprs ...map[string]any) ([]byte, error) {
	var stage map[string]any
	if err := yaml.Unmarshal(data, &stage); err != nil {
		return nil, err
	}
	spec, _ := stage["spec"].(map[string]any)
	if spec == nil {
		return nil, errors.New("no spec")
	}
	sel, _ := spec["selector"].(map[string]any)
	if sel == nil {
		sel = map[string]any{}
		spec["selector"] = sel
	}
	list, _ := sel["matchExpressions"].([]any)
	for _, e := range exprs {
		list = append(list, e)
	}
	sel["matchExpressions"] = list
	return yaml.Marshal(stage)
}

// splitYAML splits a multi-document YAML stream, dropping empty documents.
func splitYAML(data []byte) ([][]byte, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var docs [][]byte
	for {
		d, err := r.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		if isEmptyYAML(d) {
			continue
		}
		docs = append(docs, d)
	}
}

func isEmptyYAML(d []byte) bool {
	for _, line := range strings.Split(string(d), "\n") {
		t := strings.TrimSpace(line)
		if t != "" && !strings.HasPrefix(t, "#") && t != "---" {
			return false
		}
	}
	return true
}
