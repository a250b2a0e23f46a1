package controller

import (
	"context"
	"log/slog"
	"slices"

	"github.com/go-logr/logr"
)

// Logger returns a *slog.Logger for rollout.Options.Logger that writes to l,
// usually the manager's (manager.Manager.GetLogger): the runner's records
// land where the manager's do. A record logged with a context that carries a
// logr.Logger, as every controller-runtime Reconcile's context does, goes to
// that logger instead, so it carries the controller, the object and the
// reconcile id as the controller's own lines do.
func Logger(l logr.Logger) *slog.Logger { return slog.New(NewSlogHandler(l)) }

// NewSlogHandler is the slog.Handler behind Logger.
func NewSlogHandler(l logr.Logger) slog.Handler { return &ctxHandler{base: l} }

// ctxHandler resolves the logr.Logger per record (the context's, else base)
// and replays the WithAttrs and WithGroup calls made on it onto that logger's
// handler, in order, so that groups qualify only the attributes after them.
type ctxHandler struct {
	base logr.Logger
	ops  []func(slog.Handler) slog.Handler
}

func (h *ctxHandler) target(ctx context.Context) slog.Handler {
	l := h.base
	if ctx != nil {
		if cl, err := logr.FromContext(ctx); err == nil {
			l = cl
		}
	}
	out := logr.ToSlogHandler(l)
	for _, op := range h.ops {
		out = op(out)
	}
	return out
}

// Enabled implements slog.Handler.
func (h *ctxHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.target(ctx).Enabled(ctx, level)
}

// Handle implements slog.Handler.
func (h *ctxHandler) Handle(ctx context.Context, r slog.Record) error {
	t := h.target(ctx)
	if !t.Enabled(ctx, r.Level) {
		return nil
	}
	return t.Handle(ctx, r)
}

// WithAttrs implements slog.Handler.
func (h *ctxHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return h
	}
	attrs = slices.Clone(attrs)
	return h.with(func(t slog.Handler) slog.Handler { return t.WithAttrs(attrs) })
}

// WithGroup implements slog.Handler.
func (h *ctxHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return h.with(func(t slog.Handler) slog.Handler { return t.WithGroup(name) })
}

func (h *ctxHandler) with(op func(slog.Handler) slog.Handler) *ctxHandler {
	ops := make([]func(slog.Handler) slog.Handler, len(h.ops), len(h.ops)+1)
	copy(ops, h.ops)
	return &ctxHandler{base: h.base, ops: append(ops, op)}
}
