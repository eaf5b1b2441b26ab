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
	// OutcomeFailed: the API server could not be read, or it rejected
	// the real call after the dry run passed (Reason api_error: nothing
	// was written), or the real call's answer was lost (Reason
	// unknown_result: it may have been applied).
	OutcomeFailed = "failed"
)

// ReasonUnknownResult is the reason of a failed execution whose write was
// sent but whose answer never came (a timeout, a lost connection, a 5xx):
// the change may have been applied. It counts as an execution for the
// hourly budget and, for a disruptive kind, as one that began for the
// stability gate; it is never Retryable (check the object, then get a
// fresh proposal).
const ReasonUnknownResult = "unknown_result"

// Result is what became of an approval.
type Result struct {
	Outcome string `json:"outcome"`
	// Reason is a Refusal reason (Reason... constants) or "" when executed.
	Reason string `json:"reason,omitempty"`
	// Message is for the human: what happened, or what to do.
	Message string `json:"message"`
}

// Retryable reports whether the approval wrote nothing and may pass if
// approved again later, unchanged: a refusal for budget_spent,
// gate_timeout, canceled, paused, pdb_blocked or dry_run_failed, or a
// failure with api_error (the API server could not be read, or it
// rejected the write outright). The approver releases such a proposal so
// that the same button or link works again; every other result (executed,
// unknown_result, drifted, gone, forbidden, not_allowlisted, invalid,
// out_of_bounds) leaves the proposal spent, and its message says to get a
// fresh one where that helps.
func (r Result) Retryable() bool {
	switch r.Outcome {
	case OutcomeRefused:
		switch r.Reason {
		case ReasonBudget, ReasonGate, ReasonCanceled, ReasonPaused, ReasonPDBBlocked, ReasonDryRun:
			return true
		}
	case OutcomeFailed:
		return r.Reason == ReasonAPIError
	}
	return false
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
