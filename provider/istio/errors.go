package istio

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/agentops/progressive"
)

// classify wraps an error of the Kubernetes API with the sentinel of package
// progressive that says what to do about it, keeping the API error in the chain.
func classify(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	msg := fmt.Sprintf(format, args...)
	var sentinel error
	var ue *url.Error
	var ne net.Error
	switch {
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("%s: %w", msg, err)
	case errors.Is(err, context.DeadlineExceeded):
		// A request that timed out (the client's timeout, or the caller's
		// deadline, which the caller tells apart by its own ctx.Err()) may
		// succeed when tried again.
		sentinel = progressive.ErrTransient
	case apierrors.IsNotFound(err):
		sentinel = progressive.ErrNotFound
	case apierrors.IsConflict(err), apierrors.IsAlreadyExists(err):
		sentinel = progressive.ErrConflict
	case apierrors.IsInvalid(err), apierrors.IsBadRequest(err), apierrors.IsForbidden(err), apierrors.IsUnauthorized(err),
		apierrors.IsMethodNotSupported(err), apierrors.IsNotAcceptable(err), apierrors.IsUnsupportedMediaType(err):
		sentinel = progressive.ErrInvalid
	case apierrors.IsServerTimeout(err), apierrors.IsTimeout(err), apierrors.IsTooManyRequests(err),
		apierrors.IsServiceUnavailable(err), apierrors.IsInternalError(err), apierrors.IsUnexpectedServerError(err),
		errors.As(err, &ue), errors.As(err, &ne):
		sentinel = progressive.ErrTransient
	default:
		if s, ok := err.(apierrors.APIStatus); ok && s.Status().Code >= 500 {
			sentinel = progressive.ErrTransient
		}
	}
	if sentinel == nil || errors.Is(err, sentinel) {
		return fmt.Errorf("%s: %w", msg, err)
	}
	return fmt.Errorf("%s: %w: %w", msg, err, sentinel)
}
