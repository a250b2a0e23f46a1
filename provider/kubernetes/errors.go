package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/agentops/progressive"
)

var (
	errInvalid     = progressive.ErrInvalid
	errTransient   = progressive.ErrTransient
	errNotFound    = progressive.ErrNotFound
	errConflict    = progressive.ErrConflict
	errUnsupported = progressive.ErrUnsupported
)

func isTransient(err error) bool { return errors.Is(err, errTransient) }

// classify wraps an error of the Kubernetes API with the sentinel of package
// progressive that says what to do about it, keeping the original in the chain
// (apierrors.IsNotFound and friends still work on the result):
//
//   - NotFound: progressive.ErrNotFound
//   - Conflict, AlreadyExists: progressive.ErrConflict
//   - Invalid, BadRequest, Forbidden, Unauthorized, MethodNotAllowed:
//     progressive.ErrInvalid (fix the object or the RBAC Role; retrying fails
//     the same way)
//   - timeouts, 429, 5xx and network errors: progressive.ErrTransient
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
	case errors.Is(err, context.DeadlineExceeded), strings.Contains(err.Error(), "would exceed context deadline"):
		// The second is client-go's rate limiter refusing to wait past the
		// deadline: the same timeout, seen before it happens.
		// A request that timed out (the client's timeout, or the caller's
		// deadline, which the caller tells apart by its own ctx.Err()) may
		// succeed when tried again.
		sentinel = errTransient
	case apierrors.IsNotFound(err):
		sentinel = errNotFound
	case apierrors.IsConflict(err), apierrors.IsAlreadyExists(err):
		sentinel = errConflict
	case apierrors.IsForbidden(err):
		return fmt.Errorf("%s: %w (the provider needs the verbs of kubernetes.Role): %w", msg, err, errInvalid)
	case apierrors.IsInvalid(err), apierrors.IsBadRequest(err), apierrors.IsUnauthorized(err),
		apierrors.IsMethodNotSupported(err), apierrors.IsNotAcceptable(err), apierrors.IsUnsupportedMediaType(err),
		apierrors.IsRequestEntityTooLargeError(err):
		sentinel = errInvalid
	case apierrors.IsServerTimeout(err), apierrors.IsTimeout(err), apierrors.IsTooManyRequests(err),
		apierrors.IsServiceUnavailable(err), apierrors.IsInternalError(err), apierrors.IsUnexpectedServerError(err),
		errors.As(err, &ue), errors.As(err, &ne):
		sentinel = errTransient
	default:
		if s, ok := err.(apierrors.APIStatus); ok && s.Status().Code >= 500 {
			sentinel = errTransient
		}
	}
	if sentinel == nil || errors.Is(err, sentinel) {
		return fmt.Errorf("%s: %w", msg, err)
	}
	return fmt.Errorf("%s: %w: %w", msg, err, sentinel)
}
