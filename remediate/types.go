package remediate

import "time"

// Approval is a human's go-ahead for one proposed action.
type Approval struct {
	// ProposalID identifies the proposal (single use: approving twice
	// executes once).
	ProposalID string `json:"proposalId"`
	// CorrelationID names the alert the proposal came from.
	CorrelationID string `json:"correlationId,omitempty"`
	Action        Action `json:"action"`
	// Approver is who approved, as the channel identified them
	// ("slack:U123 (alice)", "link:alice@example.com").
	Approver string `json:"approver"`
	// Via is the channel: "slack" or "link".
	Via string    `json:"via"`
	At  time.Time `json:"at"`
}

// Outcomes of an execution.
const (
	OutcomeExecuted = "executed" // the action ran and the API server accepted it
	OutcomeRefused  = "refused"  // a guardrail stopped it (Result.Reason says which)
	OutcomeFailed   = "failed"   // the API server rejected the real call after the dry run passed
)

// Result is what became of an approval.
type Result struct {
	Outcome string `json:"outcome"`
	// Reason is a Refusal reason (Reason... constants) or "" when executed.
	Reason string `json:"reason,omitempty"`
	// Message is for the human: what happened, or what to do.
	Message string `json:"message"`
}

// Audit events.
const (
	EventProposed = "proposed"
	EventApproved = "approved"
	EventRejected = "rejected" // a human pressed Reject
	EventRefused  = "refused"
	EventWaiting  = "waiting" // a disruptive action waits for the stability gate
	EventExecuted = "executed"
	EventFailed   = "failed"
)

// Entry is one audit record: a JSON line, and a Kubernetes Event on the
// object acted on.
type Entry struct {
	Time          time.Time `json:"time"`
	Event         string    `json:"event"`
	ProposalID    string    `json:"proposalId"`
	CorrelationID string    `json:"correlationId,omitempty"`
	Action        Action    `json:"action"`
	Command       string    `json:"command"` // Action.String()
	// Actor is who did it: the approver's identity, or the component
	// ("foresight-enrich", "foresight-approver").
	Actor   string `json:"actor"`
	Via     string `json:"via,omitempty"`
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
}
