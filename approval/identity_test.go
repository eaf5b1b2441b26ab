package approval

import (
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSlackAllowLists: a click from outside --slack-allowed-teams,
// -channels or -users decides nothing, is told why, audited and counted;
// empty lists allow any.
func TestSlackAllowLists(t *testing.T) {
	for _, tc := range []struct {
		name                    string
		teams, channels, users  []string
		wantOutcome, wantToldAs string
	}{
		{"no lists", nil, nil, nil, outcomeAccepted, "Approved by"},
		{"allowed team, channel and user", []string{"TOTHER", "T0MJR11A4"}, []string{"C0123ALERTS"}, []string{"U045VRZFT"}, outcomeAccepted, "Approved by"},
		{"other team", []string{"TOTHER"}, nil, nil, outcomeUnauthorized, "--slack-allowed-teams"},
		{"other channel", nil, []string{"COTHER"}, nil, outcomeUnauthorized, "--slack-allowed-channels"},
		{"other user", nil, nil, []string{"UOTHER"}, outcomeUnauthorized, "--slack-allowed-users"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, harnessOpts{options: func(o *Options) {
				o.SlackAllowedTeams, o.SlackAllowedChannels, o.SlackAllowedUsers = tc.teams, tc.channels, tc.users
			}})
			tok := tokenFor(t, testKey, undoWeb, t0, t0.Add(time.Hour))
			status, outcome := slackClick(t, slackRequest(t, h, ActionApprove, tok, h.now, slackDocSecret))
			h.drain()
			if status != http.StatusOK || outcome != tc.wantOutcome {
				t.Fatalf("click: %d %s, want 200 %s", status, outcome, tc.wantOutcome)
			}
			if got := h.requests(endpointSlack, tc.wantOutcome); got != 1 {
				t.Errorf("requests{slack,%s} = %v, want 1", tc.wantOutcome, got)
			}
			h.slack.mu.Lock()
			var told []string
			for _, r := range h.slack.replies {
				if r["response_type"] == "ephemeral" {
					told = append(told, r["text"].(string))
				}
			}
			h.slack.mu.Unlock()
			if len(told) != 1 || !strings.Contains(told[0], tc.wantToldAs) {
				t.Errorf("the clicker was told %q, want %q", told, tc.wantToldAs)
			}
			if tc.wantOutcome == outcomeAccepted {
				return
			}
			if n := len(h.exec.Calls()); n != 0 {
				t.Fatalf("executed %d times", n)
			}
			if ev, e := strings.Join(h.audit.Events(), ","), h.audit.last(); ev != "refused:unauthorized" || e.Actor != "slack:U045VRZFT (alice)" {
				t.Errorf("audit %q by %q, want refused:unauthorized by slack:U045VRZFT (alice)", ev, e.Actor)
			}
			// The refused click claimed nothing.
			if p, err := Verify(testKey, tok, h.now); err != nil {
				t.Fatal(err)
			} else if _, used, _ := h.store.Get(p.ID); used {
				t.Error("a refused click claimed the proposal")
			}
		})
	}
}

// TestSlackRetryIsQuiet: Slack redelivers a click it thinks we missed
// with X-Slack-Retry-Num; the retry gets a quiet 200 (no second claim,
// no "already approved" refusal, no private reply, no audit), also after
// a restart; a retry whose first delivery never arrived is handled.
func TestSlackRetryIsQuiet(t *testing.T) {
	path := filepath.Join(t.TempDir(), "approvals.db")
	h := newHarness(t, harnessOpts{store: path})
	tok := tokenFor(t, testKey, undoWeb, t0, t0.Add(time.Hour))
	if _, outcome := slackClick(t, slackRequest(t, h, ActionApprove, tok, h.now, slackDocSecret)); outcome != outcomeAccepted {
		t.Fatalf("first delivery: %s", outcome)
	}
	for _, n := range []string{"1", "2"} {
		req := slackRequest(t, h, ActionApprove, tok, h.now, slackDocSecret)
		req.Header.Set(HeaderSlackRetryNum, n)
		req.Header.Set("X-Slack-Retry-Reason", "http_timeout")
		if status, outcome := slackClick(t, req); status != http.StatusOK || outcome != outcomeRetried {
			t.Fatalf("retry %s: %d %s, want 200 %s", n, status, outcome, outcomeRetried)
		}
	}
	h.drain()
	if ev := strings.Join(h.audit.Events(), ","); ev != "approved" {
		t.Errorf("audit %q, want only the first delivery's approval", ev)
	}
	h.slack.mu.Lock()
	ephemeral := 0
	for _, r := range h.slack.replies {
		if r["response_type"] == "ephemeral" {
			ephemeral++
		}
	}
	h.slack.mu.Unlock()
	if ephemeral != 1 || len(h.exec.Calls()) != 1 {
		t.Errorf("%d private replies, %d executions; want one each", ephemeral, len(h.exec.Calls()))
	}
	h.http.Close()
	if err := h.store.Close(); err != nil {
		t.Fatal(err)
	}

	// After a restart the store still knows the click was handled.
	h2 := newHarness(t, harnessOpts{store: path})
	req := slackRequest(t, h2, ActionApprove, tok, h2.now, slackDocSecret)
	req.Header.Set(HeaderSlackRetryNum, "3")
	if _, outcome := slackClick(t, req); outcome != outcomeRetried {
		t.Errorf("retry after a restart: %s, want %s", outcome, outcomeRetried)
	}
	// A retry of a click that never arrived is the click.
	tok2 := tokenFor(t, testKey, undoWeb, t0, t0.Add(time.Hour))
	req = slackRequest(t, h2, ActionApprove, tok2, h2.now, slackDocSecret)
	req.Header.Set(HeaderSlackRetryNum, "1")
	if _, outcome := slackClick(t, req); outcome != outcomeAccepted {
		t.Errorf("retry of a lost delivery: %s, want %s", outcome, outcomeAccepted)
	}
	// Another click (no retry header) is a replay, as before.
	if _, outcome := slackClick(t, slackRequest(t, h2, ActionApprove, tok, h2.now, slackDocSecret)); outcome != outcomeReplayed {
		t.Errorf("a new click on a decided proposal: %s, want %s", outcome, outcomeReplayed)
	}
	h2.drain()
	if n := len(h2.exec.Calls()); n != 1 {
		t.Errorf("restarted approver executed %d times, want 1 (the lost delivery)", n)
	}
}

// TestSlackLongPayload: block_actions repeats the message, which for a
// long analysis is well over 64 KiB; up to 1 MiB is read.
func TestSlackLongPayload(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	tok := tokenFor(t, testKey, undoWeb, t0, t0.Add(time.Hour))
	p := slackPayload(h, ActionApprove, tok)
	long := strings.Repeat("The analysis says a great deal. ", 6000) // ~190 KiB, twice
	p["message"].(map[string]any)["text"] = long
	p["message"].(map[string]any)["blocks"] = []map[string]any{{"type": "section", "text": map[string]any{"type": "mrkdwn", "text": long}}}
	status, outcome := slackClick(t, signedSlackRequest(t, h, p, h.now, slackDocSecret))
	h.drain()
	if status != http.StatusOK || outcome != outcomeAccepted {
		t.Fatalf("long click: %d %s, want 200 accepted", status, outcome)
	}
}

// TestPageWithoutIdentitySource: without --identity-header and
// --allow-self-declared-approvers the page shows the action, says how to
// enable link approvals, and offers no form.
func TestPageWithoutIdentitySource(t *testing.T) {
	h := newHarness(t, harnessOpts{noSelfDeclared: true})
	status, body := get(t, h.http.URL+"/approve?token="+url.QueryEscape(tokenFor(t, testKey, undoWeb, t0, t0.Add(time.Hour))))
	if status != http.StatusForbidden || strings.Contains(body, "<form") ||
		!strings.Contains(body, "--allow-self-declared-approvers") || !strings.Contains(body, "kubectl rollout undo deployment/web") {
		t.Fatalf("page: %d\n%s", status, body)
	}
	if got := h.requests(endpointPage, outcomeUnauthorized); got != 1 {
		t.Errorf("requests{page,unauthorized} = %v, want 1", got)
	}
}
