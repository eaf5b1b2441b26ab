package approval

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/foresight-aiops/foresight/remediate"
)

// TestRefusalReleasesOnlyRetryable: a refusal that wrote nothing and may
// pass later (remediate.Result.Retryable: budget, gate, shutdown, paused,
// PDB, dry run, a write the API server rejected) frees the proposal,
// audited, so that the same link works again; any other result leaves it
// used, and the result posted back says which.
func TestRefusalReleasesOnlyRetryable(t *testing.T) {
	refused := func(reason string) remediate.Result {
		return remediate.Result{Outcome: remediate.OutcomeRefused, Reason: reason, Message: "refused for " + reason}
	}
	for _, tc := range []struct {
		name     string
		first    remediate.Result
		released bool
	}{
		{"budget spent", refused(remediate.ReasonBudget), true},
		{"gate timeout", refused(remediate.ReasonGate), true},
		{"canceled", refused(remediate.ReasonCanceled), true},
		{"paused", refused(remediate.ReasonPaused), true},
		{"pdb blocked", refused(remediate.ReasonPDBBlocked), true},
		{"dry run failed", refused(remediate.ReasonDryRun), true},
		{"drifted", refused(remediate.ReasonDrifted), false},
		{"gone", refused(remediate.ReasonGone), false},
		{"not allowlisted", refused(remediate.ReasonNotAllowlisted), false},
		{"invalid", refused(remediate.ReasonInvalid), false},
		{"rejected by the API server", remediate.Result{Outcome: remediate.OutcomeFailed, Reason: remediate.ReasonAPIError, Message: "the API server rejected it"}, true},
		{"may have been applied", remediate.Result{Outcome: remediate.OutcomeFailed, Reason: remediate.ReasonUnknownResult, Message: "the answer was lost"}, false},
		{"executed", remediate.Result{Outcome: remediate.OutcomeExecuted, Message: "done"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, harnessOpts{exec: &fakeExecutor{results: []remediate.Result{tc.first}}})
			tok := tokenFor(t, testKey, undoWeb, t0, t0.Add(time.Hour))
			form := url.Values{"token": {tok}, "decision": {"approve"}, "name": {"alice"}}
			if status, body := h.postForm("/approve", form, nil); status != http.StatusAccepted {
				t.Fatalf("first approval: %d %s", status, body)
			}
			waitFor(t, func() bool { return len(h.webhooks()) == 1 })
			text := h.webhooks()[0].Text
			// The page shows the buttons again only when released.
			status, page := get(t, h.http.URL+"/approve?token="+url.QueryEscape(tok))
			form.Set("name", "bob")
			status2, body2, outcome2 := h.postFormOutcome("/approve", form, nil)
			h.drain()
			events := strings.Join(h.audit.Events(), ",")
			if tc.released {
				if !strings.Contains(text, "the proposal is open again: approve it again later with the same button or link") {
					t.Errorf("result text %q does not say the proposal can be approved again", text)
				}
				if status != http.StatusOK || !strings.Contains(page, "<form") {
					t.Errorf("page after a released refusal: %d %s", status, page)
				}
				if status2 != http.StatusAccepted || outcome2 != outcomeAccepted || len(h.exec.Calls()) != 2 {
					t.Errorf("second approval: %d %s (%d executions), want 202 and a second execution", status2, body2, len(h.exec.Calls()))
				}
				if want := "approved,released:" + tc.first.Reason + ",approved"; events != want {
					t.Errorf("audit %q, want %q", events, want)
				}
				return
			}
			if tc.first.Outcome != remediate.OutcomeExecuted && !strings.Contains(text, "This proposal is used up: get a fresh proposal from a new analysis.") {
				t.Errorf("result text %q does not say the proposal is used up", text)
			}
			if strings.Contains(text, "open again") {
				t.Errorf("result text %q says the proposal is open again", text)
			}
			if status != http.StatusGone || strings.Contains(page, "<form") {
				t.Errorf("page after a spent proposal: %d %s", status, page)
			}
			if status2 != http.StatusGone || outcome2 != outcomeReplayed || len(h.exec.Calls()) != 1 {
				t.Errorf("second approval: %d %s (%d executions), want 410 and none", status2, body2, len(h.exec.Calls()))
			}
			if events != "approved,refused:replayed" {
				t.Errorf("audit %q, want approved,refused:replayed", events)
			}
		})
	}
}

// TestSlackButtonWorksAfterGateTimeout: the scenario of the review: a
// cordon times out at the gate; the operator clicks Approve again and it
// executes.
func TestSlackButtonWorksAfterGateTimeout(t *testing.T) {
	gate := remediate.Result{Outcome: remediate.OutcomeRefused, Reason: remediate.ReasonGate, Message: "the cluster did not settle within 30m"}
	h := newHarness(t, harnessOpts{slackToken: "xoxb-test", exec: &fakeExecutor{results: []remediate.Result{gate}}})
	tok := tokenFor(t, testKey, remediate.Action{Kind: remediate.Cordon, Resource: remediate.Nodes, Name: "n1"}, t0, t0.Add(time.Hour))
	if status, outcome := slackClick(t, slackRequest(t, h, ActionApprove, tok, h.now, slackDocSecret)); status != http.StatusOK || outcome != outcomeAccepted {
		t.Fatalf("first click: %d %s", status, outcome)
	}
	waitFor(t, func() bool {
		return h.results(remediate.OutcomeRefused, remediate.ReasonGate) == 1 && h.slackPosts() == 1
	})
	h.now = h.now.Add(31 * time.Minute)
	if status, outcome := slackClick(t, slackRequest(t, h, ActionApprove, tok, h.now, slackDocSecret)); status != http.StatusOK || outcome != outcomeAccepted {
		t.Fatalf("click after the gate timed out: %d %s, want accepted", status, outcome)
	}
	h.drain()
	if n := len(h.exec.Calls()); n != 2 {
		t.Fatalf("Execute called %d times, want 2", n)
	}
	h.slack.mu.Lock()
	defer h.slack.mu.Unlock()
	if !strings.Contains(h.slack.posts[0]["text"].(string), "open again") || !strings.Contains(h.slack.posts[1]["text"].(string), "Executed") {
		t.Errorf("thread got %v", h.slack.posts)
	}
}

// TestRefusalsWithoutClaimAreAudited: a refusal while stopping, and a
// store that fails, are audited with the approver.
func TestRefusalsWithoutClaimAreAudited(t *testing.T) {
	t.Run("stopping", func(t *testing.T) {
		h := newHarness(t, harnessOpts{})
		if err := h.srv.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		tok := tokenFor(t, testKey, undoWeb, t0, t0.Add(time.Hour))
		status, _, outcome := h.postFormOutcome("/approve", url.Values{"token": {tok}, "decision": {"approve"}, "name": {"alice"}}, nil)
		if status != http.StatusServiceUnavailable || outcome != outcomeStopping {
			t.Fatalf("approval while stopping: %d %s", status, outcome)
		}
		if ev, e := strings.Join(h.audit.Events(), ","), h.audit.last(); ev != "refused:stopping" || e.Actor != "link:alice (self-declared)" {
			t.Errorf("audit %q by %q, want refused:stopping by link:alice (self-declared)", ev, e.Actor)
		}
	})
	t.Run("store error", func(t *testing.T) {
		h := newHarness(t, harnessOpts{})
		if err := h.store.Close(); err != nil {
			t.Fatal(err)
		}
		tok := tokenFor(t, testKey, undoWeb, t0, t0.Add(time.Hour))
		status, _, outcome := h.postFormOutcome("/approve", url.Values{"token": {tok}, "decision": {"approve"}, "name": {"alice"}}, nil)
		h.drain()
		if status != http.StatusInternalServerError || outcome != outcomeStoreError {
			t.Fatalf("approval with a closed store: %d %s", status, outcome)
		}
		if ev := strings.Join(h.audit.Events(), ","); ev != "refused:store_error" {
			t.Errorf("audit %q, want refused:store_error", ev)
		}
		if n := len(h.exec.Calls()); n != 0 {
			t.Fatalf("executed %d times without a claim", n)
		}
	})
}

func (h *harness) webhooks() []LinkResult {
	h.slack.mu.Lock()
	defer h.slack.mu.Unlock()
	return append([]LinkResult(nil), h.slack.webhooks...)
}

func (h *harness) slackPosts() int {
	h.slack.mu.Lock()
	defer h.slack.mu.Unlock()
	return len(h.slack.posts)
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10 s")
		}
	}
}

func (h *harness) results(outcome, reason string) float64 {
	return testutil.ToFloat64(h.srv.metrics.results.WithLabelValues(outcome, reason))
}
