package telemetry

import (
	"context"
	"errors"

	"github.com/agentops/progressive"
)

// Error kinds, the values of the kind label of provider_errors_total.
const (
	KindTransient   = "transient"
	KindInvalid     = "invalid"
	KindNotFound    = "not-found"
	KindUnsupported = "unsupported"
	KindConflict    = "conflict"
	KindTimeout     = "timeout"
	KindOther       = "other"
)

// ErrorKind names the kind of err by the SDK's sentinel errors, the way the
// runner itself tells them apart: transient faults are retried, the others
// roll back. It returns "" for nil. The first sentinel that matches wins, in
// the order of the constants above: an error the runner would retry counts as
// transient whatever else it wraps.
func ErrorKind(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, progressive.ErrTransient):
		return KindTransient
	case errors.Is(err, progressive.ErrInvalid):
		return KindInvalid
	case errors.Is(err, progressive.ErrNotFound):
		return KindNotFound
	case errors.Is(err, progressive.ErrUnsupported):
		return KindUnsupported
	case errors.Is(err, progressive.ErrConflict):
		return KindConflict
	case errors.Is(err, context.DeadlineExceeded):
		return KindTimeout
	default:
		return KindOther
	}
}
