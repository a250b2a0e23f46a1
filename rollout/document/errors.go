package document

import (
	"fmt"
	"strings"

	"github.com/agentops/progressive"
)

// Position is where a value stands in the document's text, 1-based. A value that
// did not come from text (a Rollout built in Go) has the zero Position.
type Position struct {
	Line   int `json:"line,omitempty"`
	Column int `json:"column,omitempty"`
}

func (p Position) String() string {
	switch {
	case p.Line == 0:
		return ""
	case p.Column == 0:
		return fmt.Sprintf("line %d", p.Line)
	default:
		return fmt.Sprintf("line %d, column %d", p.Line, p.Column)
	}
}

// Problem is one thing wrong with a document: the field path in the document's
// own vocabulary (spec.strategy.canary.weights[1]), where it is and why. It
// embeds progressive.FieldError, so callers that already print FieldErrors print
// Problems the same way.
type Problem struct {
	progressive.FieldError
	Position
}

func (p Problem) Error() string {
	if p.Line == 0 {
		return p.FieldError.Error()
	}
	return p.Position.String() + ": " + p.FieldError.Error()
}

// Error lists every problem found in one document, in the order of the text
// where positions are known: a person fixes them all in one pass. It wraps
// progressive.ErrInvalid.
type Error struct {
	Problems []Problem `json:"problems"`
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "rollout document: %d problem(s)", len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n  - ")
		b.WriteString(p.Error())
	}
	return b.String()
}

// Unwrap makes every document error a configuration error.
func (e *Error) Unwrap() error { return progressive.ErrInvalid }

// problems collects Problems; its zero value is ready to use.
type problems struct {
	list []Problem
}

func (ps *problems) add(pos Position, path string, value any, reason string, args ...any) {
	if len(args) > 0 {
		reason = fmt.Sprintf(reason, args...)
	}
	ps.list = append(ps.list, Problem{FieldError: progressive.FieldError{Field: path, Value: value, Reason: reason}, Position: pos})
}

func (ps *problems) err() error {
	if len(ps.list) == 0 {
		return nil
	}
	return &Error{Problems: append([]Problem(nil), ps.list...)}
}
