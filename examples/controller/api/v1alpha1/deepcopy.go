package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// Written by hand, in the shape controller-gen's object generator gives:
// every pointer and slice is copied, so a copy shares nothing with the
// original (the informer cache's objects must never be changed in place).

// DeepCopyInto copies r into out.
func (r *ProgressiveRollout) DeepCopyInto(out *ProgressiveRollout) {
	*out = *r
	out.TypeMeta = r.TypeMeta
	r.ObjectMeta.DeepCopyInto(&out.ObjectMeta)
	r.Spec.DeepCopyInto(&out.Spec)
	r.Status.DeepCopyInto(&out.Status)
}

// DeepCopy returns a copy of r.
func (r *ProgressiveRollout) DeepCopy() *ProgressiveRollout {
	if r == nil {
		return nil
	}
	out := new(ProgressiveRollout)
	r.DeepCopyInto(out)
	return out
}

// DeepCopyObject implements runtime.Object.
func (r *ProgressiveRollout) DeepCopyObject() runtime.Object {
	if c := r.DeepCopy(); c != nil {
		return c
	}
	return nil
}

// DeepCopyInto copies l into out.
func (l *ProgressiveRolloutList) DeepCopyInto(out *ProgressiveRolloutList) {
	*out = *l
	out.TypeMeta = l.TypeMeta
	l.ListMeta.DeepCopyInto(&out.ListMeta)
	if l.Items != nil {
		out.Items = make([]ProgressiveRollout, len(l.Items))
		for i := range l.Items {
			l.Items[i].DeepCopyInto(&out.Items[i])
		}
	}
}

// DeepCopy returns a copy of l.
func (l *ProgressiveRolloutList) DeepCopy() *ProgressiveRolloutList {
	if l == nil {
		return nil
	}
	out := new(ProgressiveRolloutList)
	l.DeepCopyInto(out)
	return out
}

// DeepCopyObject implements runtime.Object.
func (l *ProgressiveRolloutList) DeepCopyObject() runtime.Object {
	if c := l.DeepCopy(); c != nil {
		return c
	}
	return nil
}

// DeepCopyInto copies s into out.
func (s *ProgressiveRolloutSpec) DeepCopyInto(out *ProgressiveRolloutSpec) {
	*out = *s
	if s.Checks != nil {
		out.Checks = make([]Check, len(s.Checks))
		for i := range s.Checks {
			s.Checks[i].DeepCopyInto(&out.Checks[i])
		}
	}
}

// DeepCopyInto copies c into out.
func (c *Check) DeepCopyInto(out *Check) {
	*out = *c
	out.Min = copyFloat(c.Min)
	out.Max = copyFloat(c.Max)
}

// DeepCopyInto copies s into out.
func (s *ProgressiveRolloutStatus) DeepCopyInto(out *ProgressiveRolloutStatus) {
	*out = *s
	out.CanaryWeight = copyFloat(s.CanaryWeight)
	if s.LastAnalysis != nil {
		out.LastAnalysis = new(Analysis)
		s.LastAnalysis.DeepCopyInto(out.LastAnalysis)
	}
	if s.StartedAt != nil {
		out.StartedAt = s.StartedAt.DeepCopy()
	}
	if s.Conditions != nil {
		out.Conditions = make([]metav1.Condition, len(s.Conditions))
		for i := range s.Conditions {
			s.Conditions[i].DeepCopyInto(&out.Conditions[i])
		}
	}
}

// DeepCopyInto copies a into out.
func (a *Analysis) DeepCopyInto(out *Analysis) {
	*out = *a
	a.Time.DeepCopyInto(&out.Time)
	if a.Checks != nil {
		out.Checks = make([]CheckResult, len(a.Checks))
		for i := range a.Checks {
			out.Checks[i] = a.Checks[i]
			out.Checks[i].Value = copyFloat(a.Checks[i].Value)
		}
	}
}

func copyFloat(f *float64) *float64 {
	if f == nil {
		return nil
	}
	v := *f
	return &v
}
