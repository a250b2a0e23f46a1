package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"strconv"

	corev1 "k8s.io/api/core/v1"

	"github.com/agentops/progressive/controller"
	k8s "github.com/agentops/progressive/provider/kubernetes"
)

// stateComponent is the ComponentLabel value of provider/kubernetes' state
// ConfigMaps.
const stateComponent = "rollout-state"

// Keys of a state ConfigMap in the manager's cache once summarizeState has
// reduced it.
const (
	summaryVersion = "version"
	summaryCommand = "command"
)

// storedState is the part of a stored rollout.State the watch needs.
type storedState struct {
	ID      string          `json:"id"`
	Version int64           `json:"version"`
	Command json.RawMessage `json:"command,omitempty"`
}

// summarizeState is the Transform of the state ConfigMaps in the manager's
// cache: it keeps the rollout's id (the RolloutAnnotation), its version and
// whether it holds a command, and drops the state itself (up to a MiB of
// decision record per rollout, which the provider's own informer already
// holds). A ConfigMap it cannot read is kept without a summary, and ignored.
func summarizeState(obj any) (any, error) {
	cm, ok := obj.(*corev1.ConfigMap)
	if !ok {
		return obj, nil
	}
	st, ok := decodeStored(cm)
	cm.Data, cm.BinaryData, cm.ManagedFields = nil, nil, nil
	if ok {
		cm.Data = map[string]string{summaryVersion: strconv.FormatInt(st.Version, 10)}
		if len(st.Command) > 0 && string(st.Command) != "null" {
			cm.Data[summaryCommand] = "true"
		}
		if cm.Annotations == nil {
			cm.Annotations = map[string]string{}
		}
		cm.Annotations[k8s.RolloutAnnotation] = st.ID
	}
	return cm, nil
}

// decodeStored reads the state a ConfigMap of provider/kubernetes' Store
// holds: plain JSON in StateKey, or gzipped JSON in StateGzipKey.
func decodeStored(cm *corev1.ConfigMap) (storedState, bool) {
	var raw []byte
	switch {
	case cm.Data[k8s.StateKey] != "":
		raw = []byte(cm.Data[k8s.StateKey])
	case len(cm.BinaryData[k8s.StateGzipKey]) > 0:
		zr, err := gzip.NewReader(bytes.NewReader(cm.BinaryData[k8s.StateGzipKey]))
		if err != nil {
			return storedState{}, false
		}
		if raw, err = io.ReadAll(zr); err != nil {
			return storedState{}, false
		}
	default:
		return storedState{}, false
	}
	var st storedState
	if err := json.Unmarshal(raw, &st); err != nil || st.ID == "" {
		return storedState{}, false
	}
	return st, true
}

// stateChange turns a summarized state ConfigMap into what
// controller.StateHandler needs.
func stateChange(cm *corev1.ConfigMap) (controller.StateChange, bool) {
	id := cm.Annotations[k8s.RolloutAnnotation]
	v, err := strconv.ParseInt(cm.Data[summaryVersion], 10, 64)
	if id == "" || err != nil {
		return controller.StateChange{}, false
	}
	return controller.StateChange{ID: id, Version: v, Command: cm.Data[summaryCommand] == "true"}, true
}
