package rollout

import (
	"context"
	"sync"

	"github.com/agentops/progressive"
)

// ApprovalStatus is an approver's answer.
type ApprovalStatus string

const (
	ApprovalPending  ApprovalStatus = "pending"
	ApprovalApproved ApprovalStatus = "approved"
	ApprovalDenied   ApprovalStatus = "denied"
)

// ApprovalRequest tells an approver what it is asked to let through.
type ApprovalRequest struct {
	Rollout string              `json:"rollout"`
	Gate    string              `json:"gate"`
	Target  progressive.Target  `json:"target"`
	Release progressive.Release `json:"release"`
	// Step is the gate's index in Plan.Steps, from 0; Summary, written for
	// people, numbers steps from 1.
	Step int `json:"step"`
	// Summary is the decision record so far in a sentence or two.
	Summary string `json:"summary"`
}

// Approver is asked at every approval step until it answers approved or denied. It
// must not block for long: return ApprovalPending and the runner asks again.
type Approver interface {
	Approval(ctx context.Context, req ApprovalRequest) (ApprovalStatus, string, error)
}

// ApproverFunc adapts a function to Approver.
type ApproverFunc func(ctx context.Context, req ApprovalRequest) (ApprovalStatus, string, error)

// Approval implements Approver.
func (f ApproverFunc) Approval(ctx context.Context, req ApprovalRequest) (ApprovalStatus, string, error) {
	return f(ctx, req)
}

// Gates is an in-memory Approver: a program (a chat bot, a CLI, a test) calls
// Approve or Deny for a rollout's gate, and the runner sees it at its next poll.
type Gates struct {
	mu      sync.Mutex
	answers map[string]gateAnswer
	asked   map[string]ApprovalRequest
}

type gateAnswer struct {
	status ApprovalStatus
	reason string
}

// NewGates returns gates with no answers yet.
func NewGates() *Gates {
	return &Gates{answers: map[string]gateAnswer{}, asked: map[string]ApprovalRequest{}}
}

func gateKey(rollout, gate string) string { return rollout + "\x00" + gate }

// Approve lets rollout pass gate.
func (g *Gates) Approve(rollout, gate, reason string) {
	g.answer(rollout, gate, ApprovalApproved, reason)
}

// Deny makes rollout roll back at gate.
func (g *Gates) Deny(rollout, gate, reason string) { g.answer(rollout, gate, ApprovalDenied, reason) }

func (g *Gates) answer(rollout, gate string, s ApprovalStatus, reason string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.answers[gateKey(rollout, gate)] = gateAnswer{s, reason}
}

// Waiting lists the requests no one has answered yet.
func (g *Gates) Waiting() []ApprovalRequest {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []ApprovalRequest
	for k, r := range g.asked {
		if _, ok := g.answers[k]; !ok {
			out = append(out, r)
		}
	}
	return out
}

// Approval implements Approver.
func (g *Gates) Approval(_ context.Context, req ApprovalRequest) (ApprovalStatus, string, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	k := gateKey(req.Rollout, req.Gate)
	g.asked[k] = req
	if a, ok := g.answers[k]; ok {
		return a.status, a.reason, nil
	}
	return ApprovalPending, "", nil
}
