package prometheus

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"

	"github.com/agentops/progressive"
)

// Error types of QueryError besides Prometheus' own (bad_data, execution, timeout,
// canceled, server_error, client_error, bad_response).
const (
	// TypeUnreachable: no HTTP answer (connection refused, DNS, reset, TLS).
	TypeUnreachable = "unreachable"
	// TypeDeadline: the client stopped waiting (Options.Timeout or Query.Timeout).
	TypeDeadline = "deadline"
	// TypeResult: an answer that is not one number (several series, a string).
	TypeResult = "result"
	// TypeRange: QueryRange arguments that cannot be sent.
	TypeRange = "range"
	// TypeTooLarge: an answer longer than Options.MaxBody, not read further.
	TypeTooLarge = "too_large"
)

// QueryError is the error of a query that did not produce a Result. It wraps
// progressive.ErrInvalid (a configuration error: fix the query or the options) or
// progressive.ErrTransient (the backend, not the canary: the analysis counts it as
// inconclusive), and context.DeadlineExceeded when the client gave up waiting.
// Its message never contains the credentials of Options.
type QueryError struct {
	// Kind is progressive.ErrInvalid or progressive.ErrTransient.
	Kind error
	// Type is Prometheus' error type (bad_data, execution, timeout, canceled,
	// server_error, client_error, bad_response), the errorType inside a 5xx answer
	// when it has one, or one of TypeUnreachable, TypeDeadline, TypeResult and
	// TypeRange.
	Type string
	// StatusCode is the HTTP status when the server answered with an error status.
	StatusCode int
	// Query is the expression, for messages.
	Query string
	// Msg says what happened, with credentials removed.
	Msg string

	deadline bool
}

func (e *QueryError) Error() string {
	return fmt.Sprintf("prometheus: %s: %s", e.Msg, e.Kind)
}

// Unwrap makes the error match its Kind, and context.DeadlineExceeded when the
// client's deadline passed.
func (e *QueryError) Unwrap() []error {
	if e.deadline {
		return []error{e.Kind, context.DeadlineExceeded}
	}
	return []error{e.Kind}
}

// maxQueryInMessage bounds how much of an expression a message quotes.
const maxQueryInMessage = 300

func shorten(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

func (s *Source) newError(kind error, typ string, status int, q progressive.Query, msg string) *QueryError {
	return &QueryError{Kind: kind, Type: typ, StatusCode: status, Query: q.Expr, Msg: s.redact.clean(msg)}
}

// invalid is a configuration error about q; it quotes the query, since the fix is
// in it.
func (s *Source) invalid(typ, msg string, q progressive.Query) *QueryError {
	return s.newError(progressive.ErrInvalid, typ, 0, q, fmt.Sprintf("%s (query %q)", msg, shorten(q.Expr, maxQueryInMessage)))
}

// classify turns an error of the client library into a QueryError. ctx is the
// caller's context: when it ended, the error says so and is neither invalid nor
// transient, so the analysis stops instead of counting a measurement.
func (s *Source) classify(ctx context.Context, q progressive.Query, timeout time.Duration, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("prometheus: query interrupted: %w", context.Cause(ctx))
	}
	var apiErr *v1.Error
	var tooLarge *errTooLarge
	switch {
	case errors.As(err, &tooLarge):
		return s.newError(progressive.ErrTransient, TypeTooLarge, 0, q, fmt.Sprintf("%s: %v", s.address, tooLarge))
	case errors.As(err, &apiErr):
		return s.classifyAPI(q, apiErr)
	case errors.Is(err, context.DeadlineExceeded):
		e := s.newError(progressive.ErrTransient, TypeDeadline, 0, q, fmt.Sprintf(
			"no answer from %s within %s (the server was asked to stop the query at %s)",
			s.address, clientDeadline(timeout), serverTimeout(timeout)))
		e.deadline = true
		return e
	case isCertificateError(err):
		return s.newError(progressive.ErrInvalid, TypeUnreachable, 0, q, fmt.Sprintf(
			"%s: the server's certificate is not trusted (set TLS.CAFile or TLS.ServerName): %v", s.address, unwrapURL(err)))
	}
	return s.newError(progressive.ErrTransient, TypeUnreachable, 0, q, fmt.Sprintf("%s unreachable: %v", s.address, unwrapURL(err)))
}

// unwrapURL drops the "Post \"http://...\":" prefix of a *url.Error; the address
// is already in the message.
func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) && ue.Err != nil {
		return ue.Err
	}
	return err
}

func isCertificateError(err error) bool {
	var unknown x509.UnknownAuthorityError
	var invalid x509.CertificateInvalidError
	var host x509.HostnameError
	var verify *tls.CertificateVerificationError
	return errors.As(err, &unknown) || errors.As(err, &invalid) || errors.As(err, &host) || errors.As(err, &verify)
}

func (s *Source) classifyAPI(q progressive.Query, e *v1.Error) error {
	switch e.Type {
	case v1.ErrBadData:
		return s.invalid(string(e.Type), "bad query: "+e.Msg, q)
	case v1.ErrExec:
		return s.invalid(string(e.Type), "the query failed to execute: "+e.Msg, q)
	case v1.ErrTimeout:
		return s.newError(progressive.ErrTransient, string(e.Type), 0, q, "the query timed out on the server: "+e.Msg)
	case v1.ErrCanceled:
		return s.newError(progressive.ErrTransient, string(e.Type), 0, q, "the server canceled the query: "+e.Msg)
	case v1.ErrServer:
		return s.serverError(q, e)
	case v1.ErrClient:
		return s.clientError(q, e)
	case v1.ErrBadResponse:
		if strings.Contains(e.Msg, "unexpected value type") {
			// client_golang reads vectors, scalars and matrices only: a string
			// result ("foo") ends here.
			return s.invalid(TypeResult, "the query returns a value that is not a number ("+e.Msg+")", q)
		}
		return s.newError(progressive.ErrTransient, string(e.Type), 0, q, fmt.Sprintf("unreadable answer from %s (is it Prometheus?): %s", s.address, e.Msg))
	}
	return s.newError(progressive.ErrTransient, string(e.Type), 0, q, fmt.Sprintf("%s: %s%s", e.Type, e.Msg, detail(e.Detail)))
}

// apiBody is Prometheus' error envelope, found in the Detail of a 5xx answer: a
// server-side timeout is a 503 whose body says errorType "timeout".
type apiBody struct {
	Status    string `json:"status"`
	ErrorType string `json:"errorType"`
	Error     string `json:"error"`
}

func (s *Source) serverError(q progressive.Query, e *v1.Error) error {
	status := statusOf(e.Msg)
	var body apiBody
	if json.Unmarshal([]byte(e.Detail), &body) == nil && body.Status == "error" && body.ErrorType != "" {
		what := "the server failed the query"
		switch v1.ErrorType(body.ErrorType) {
		case v1.ErrTimeout:
			what = "the query timed out on the server"
		case v1.ErrCanceled:
			what = "the server canceled the query"
		}
		return s.newError(progressive.ErrTransient, body.ErrorType, status, q,
			fmt.Sprintf("%s (HTTP %d, %s): %s", what, status, body.ErrorType, shorten(body.Error, 300)))
	}
	return s.newError(progressive.ErrTransient, string(e.Type), status, q,
		fmt.Sprintf("%s answered HTTP %d%s", s.address, status, detail(e.Detail)))
}

func (s *Source) clientError(q progressive.Query, e *v1.Error) error {
	status := statusOf(e.Msg)
	kind, why := progressive.ErrInvalid, ""
	switch status {
	case http.StatusUnauthorized:
		why = " (credentials missing or refused: check BearerToken, BasicAuth or Headers)"
	case http.StatusForbidden:
		why = " (access denied to these credentials)"
	case http.StatusNotFound:
		why = " (no Prometheus API here: check Address and its path prefix)"
	case http.StatusRequestTimeout, http.StatusTooManyRequests:
		kind = progressive.ErrTransient
	}
	return s.newError(kind, string(e.Type), status, q, fmt.Sprintf("%s answered HTTP %d%s%s", s.address, status, why, detail(e.Detail)))
}

// statusOf reads the status from client_golang's "server error: 503".
func statusOf(msg string) int {
	i := strings.LastIndexByte(msg, ' ')
	n, err := strconv.Atoi(msg[i+1:])
	if err != nil {
		return 0
	}
	return n
}

// detail quotes the start of an error body, on one line.
func detail(body string) string {
	body = shorten(body, 200)
	if body == "" {
		return ""
	}
	return ": " + body
}
