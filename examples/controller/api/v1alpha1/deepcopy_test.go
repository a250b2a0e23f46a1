package v1alpha1

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestDeepCopySharesNothing(t *testing.T) {
	one, w := 1.0, 25.0
	r := &ProgressiveRollout{
		ObjectMeta: metav1.ObjectMeta{Name: "checkout-v2", Annotations: map[string]string{CommandAnnotation: "abort"}},
		Spec:       ProgressiveRolloutSpec{Checks: []Check{{Name: "error-rate", Max: &one}}},
		Status: ProgressiveRolloutStatus{
			CanaryWeight: &w,
			LastAnalysis: &Analysis{Checks: []CheckResult{{Name: "error-rate", Value: &one}}},
			Conditions:   []metav1.Condition{{Type: "Ready"}},
		},
	}
	c := r.DeepCopy()
	require.Equal(t, r, c)
	*c.Spec.Checks[0].Max = 2
	*c.Status.CanaryWeight = 50
	*c.Status.LastAnalysis.Checks[0].Value = 3
	c.Status.Conditions[0].Type = "Degraded"
	c.Annotations[CommandAnnotation] = "promote"
	assert.Equal(t, 1.0, *r.Spec.Checks[0].Max)
	assert.Equal(t, 25.0, *r.Status.CanaryWeight)
	assert.Equal(t, 1.0, *r.Status.LastAnalysis.Checks[0].Value)
	assert.Equal(t, "Ready", r.Status.Conditions[0].Type)
	assert.Equal(t, "abort", r.Annotations[CommandAnnotation])

	list := &ProgressiveRolloutList{Items: []ProgressiveRollout{*r}}
	lc := list.DeepCopyObject().(*ProgressiveRolloutList)
	*lc.Items[0].Status.CanaryWeight = 75
	assert.Equal(t, 25.0, *r.Status.CanaryWeight)

	b, err := json.Marshal(r)
	require.NoError(t, err)
	var back ProgressiveRollout
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Equal(t, r.Spec, back.Spec)
}
