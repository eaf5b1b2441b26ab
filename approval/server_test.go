package approval

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/foresight-aiops/foresight/remediate"
)

const testConfig = `
allow:
  - action: rollout-undo
    namespaces: [shop]
    selector: app=web
  - action: scale
    namespaces: [shop]
    minReplicas: 1
    maxReplicas: 5
  - action: cordon
`

// fakeExecutor records approvals; with release set, Execute waits for it.
// It returns results in turn, then "executed".
type fakeExecutor struct {
	mu      sync.Mutex
	calls   []remediate.Approval
	results []remediate.Result
	release chan struct{}
	started chan struct{}
}

func (f *fakeExecutor) Execute(ctx context.Context, ap remediate.Approval) remediate.Result {
	f.mu.Lock()
	f.calls = append(f.calls, ap)
	var next *remediate.Result
	if len(f.results) > 0 {
		next = &f.results[0]
		f.results = f.results[1:]
	}
	f.mu.Unlock()
	if next != nil {
		return *next
	}
	if f.started != nil {
		f.started <- struct{}{}
	}
	if f.release != nil {
		select {
		case <-f.release:
		case <-ctx.Done():
			return remediate.Result{Outcome: remediate.OutcomeRefused, Reason: remediate.ReasonGate, Message: "approver shutting down"}
		}
	}
	return remediate.Result{Outcome: remediate.OutcomeExecuted, Message: "the API server accepted it"}
}

func (f *fakeExecutor) Calls() []remediate.Approval {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]remediate.Approval(nil), f.calls...)
}

type recorder struct {
	mu      sync.Mutex
	entries []remediate.Entry
}

func (r *recorder) Record(_ context.Context, e remediate.Entry) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.entries = append(r.entries, e)
}

func (r *recorder) last() remediate.Entry {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.entries) == 0 {
		return remediate.Entry{}
	}
	return r.entries[len(r.entries)-1]
}

func (r *recorder) Events() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.entries {
		s := e.Event
		if e.Reason != "" {
			s += ":" + e.Reason
		}
		out = append(out, s)
	}
	return out
}

// fakeSlack speaks the two Slack endpoints the approver calls:
// chat.postMessage (Web API: bearer token, JSON, {"ok":true,...}) and a
// response_url (JSON; Slack answers "ok").
type fakeSlack struct {
	srv      *httptest.Server
	mu       sync.Mutex
	posts    []map[string]any // chat.postMessage bodies
	replies  []map[string]any // response_url bodies
	webhooks []LinkResult     // result webhook bodies
}

func newFakeSlack(t *testing.T) *fakeSlack {
	f := &fakeSlack{}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		defer f.mu.Unlock()
		switch r.URL.Path {
		case "/api/chat.postMessage":
			if r.Header.Get("Authorization") != "Bearer xoxb-test" {
				_, _ = io.WriteString(w, `{"ok":false,"error":"invalid_auth"}`)
				return
			}
			var m map[string]any
			if err := json.Unmarshal(body, &m); err != nil {
				_, _ = io.WriteString(w, `{"ok":false,"error":"invalid_json"}`)
				return
			}
			f.posts = append(f.posts, m)
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"ok":true,"channel":%q,"ts":"1732450100.000300","message":{"text":"x"}}`, m["channel"])
		case "/actions/T0MJR11A4/1234567890/abcdefgh":
			var m map[string]any
			if err := json.Unmarshal(body, &m); err != nil {
				http.Error(w, "invalid_payload", http.StatusBadRequest)
				return
			}
			f.replies = append(f.replies, m)
			_, _ = io.WriteString(w, "ok")
		case "/results":
			var lr LinkResult
			if err := json.Unmarshal(body, &lr); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			f.webhooks = append(f.webhooks, lr)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(f.srv.Close)
	return f
}

type harness struct {
	t     *testing.T
	srv   *Server
	http  *httptest.Server
	exec  *fakeExecutor
	audit *recorder
	slack *fakeSlack
	store *Store
	now   time.Time
}

type harnessOpts struct {
	identityHeader, slackToken string
	noSlack                    bool
	// noSelfDeclared leaves AllowSelfDeclared off (the approver's
	// default); the harness allows typed names otherwise.
	noSelfDeclared bool
	store          string
	exec           *fakeExecutor
	// options, when set, edits the options before NewServer.
	options func(*Options)
}

func newHarness(t *testing.T, ho harnessOpts) *harness {
	t.Helper()
	cfg, err := remediate.Parse(strings.NewReader(testConfig))
	if err != nil {
		t.Fatal(err)
	}
	if ho.store == "" {
		ho.store = filepath.Join(t.TempDir(), "approvals.db")
	}
	st, err := OpenStore(ho.store)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if ho.exec == nil {
		ho.exec = &fakeExecutor{}
	}
	h := &harness{t: t, exec: ho.exec, audit: &recorder{}, slack: newFakeSlack(t), store: st, now: t0.Add(time.Minute)}
	o := Options{
		Key: testKey, Config: cfg, Executor: h.exec, Store: st, Audit: h.audit,
		SlackToken: ho.slackToken, SlackAPIURL: h.slack.srv.URL + "/api", ResultWebhook: h.slack.srv.URL + "/results",
		IdentityHeader: ho.identityHeader, AllowSelfDeclared: !ho.noSelfDeclared,
		Registerer: prometheus.NewRegistry(), Now: func() time.Time { return h.now },
	}
	if ho.options != nil {
		ho.options(&o)
	}
	if !ho.noSlack {
		o.SlackSigningSecret = []byte(slackDocSecret)
	}
	if h.srv, err = NewServer(o); err != nil {
		t.Fatal(err)
	}
	h.http = httptest.NewServer(h.srv.Handler())
	t.Cleanup(h.http.Close)
	return h
}

// drain waits for every background execution and post-back.
func (h *harness) drain() {
	h.t.Helper()
	if err := h.srv.Shutdown(context.Background()); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) postForm(path string, form url.Values, header http.Header) (int, string) {
	h.t.Helper()
	status, body, _ := h.postFormOutcome(path, form, header)
	return status, body
}

func (h *harness) postFormOutcome(path string, form url.Values, header http.Header) (int, string, string) {
	h.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, h.http.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header.Get(HeaderOutcome)
}

// slackClick sends req and returns the status and the outcome header.
func slackClick(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.Header.Get(HeaderOutcome)
}

func do(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (h *harness) requests(endpoint, outcome string) float64 {
	return testutil.ToFloat64(h.srv.metrics.requests.WithLabelValues(endpoint, outcome))
}

func tokenFor(t *testing.T, key []byte, a remediate.Action, issued, expires time.Time) string {
	t.Helper()
	id, err := NewID()
	if err != nil {
		t.Fatal(err)
	}
	return mustSign(t, key, Proposal{ID: id, CorrelationID: "a1b2c3d4", Action: a, Issued: issued, Expires: expires})
}

var (
	undoWeb  = remediate.Action{Kind: remediate.RolloutUndo, Resource: remediate.Deployments, Namespace: "shop", Name: "web", ToRevision: 3}
	undoElse = remediate.Action{Kind: remediate.RolloutUndo, Resource: remediate.Deployments, Namespace: "payments", Name: "web", ToRevision: 3}
	scaleBig = remediate.Action{Kind: remediate.Scale, Resource: remediate.Deployments, Namespace: "shop", Name: "web", Replicas: ptr(int32(50))}
	restart  = remediate.Action{Kind: remediate.RolloutRestart, Resource: remediate.Deployments, Namespace: "shop", Name: "web"}
)

func ptr[T any](v T) *T { return &v }

func TestLinkDecisions(t *testing.T) {
	valid := func(t *testing.T) string { return tokenFor(t, testKey, undoWeb, t0, t0.Add(time.Hour)) }
	for _, tc := range []struct {
		name           string
		identityHeader string
		noSelfDeclared bool
		token          func(t *testing.T) string
		form           url.Values
		header         http.Header
		wantStatus     int
		wantBody       string
		wantOutcome    string
		wantCalls      int
		wantAudit      string
		wantApprover   string
		wantActor      string // of the last audit entry, when set
	}{
		{
			name: "approved", token: valid, form: url.Values{"decision": {"approve"}, "name": {"alice"}},
			wantStatus: http.StatusAccepted, wantBody: "Approved by link:alice (self-declared)", wantOutcome: outcomeAccepted,
			wantCalls: 1, wantAudit: "approved", wantApprover: "link:alice (self-declared)",
		},
		{
			name: "rejected", token: valid, form: url.Values{"decision": {"reject"}, "name": {"bob"}},
			wantStatus: http.StatusOK, wantBody: "will not run", wantOutcome: outcomeRejected, wantAudit: "rejected",
		},
		{
			name: "forged", token: func(t *testing.T) string { return tokenFor(t, otherKey, undoWeb, t0, t0.Add(time.Hour)) },
			form: url.Values{"decision": {"approve"}, "name": {"mallory"}}, wantStatus: http.StatusForbidden, wantBody: "not signed by Foresight", wantOutcome: outcomeForged,
		},
		{
			name: "expired", token: func(t *testing.T) string { return tokenFor(t, testKey, undoWeb, t0.Add(-2*time.Hour), t0) },
			form: url.Values{"decision": {"approve"}, "name": {"alice"}}, wantStatus: http.StatusGone, wantBody: "expired", wantOutcome: outcomeExpired, wantAudit: "refused:expired",
			wantActor: "link:alice (self-declared)",
		},
		{
			name: "expired, behind the proxy", identityHeader: "X-Forwarded-Email", token: func(t *testing.T) string { return tokenFor(t, testKey, undoWeb, t0.Add(-2*time.Hour), t0) },
			form: url.Values{"decision": {"approve"}}, header: http.Header{"X-Forwarded-Email": {"alice@example.com"}},
			wantStatus: http.StatusGone, wantBody: "expired", wantOutcome: outcomeExpired, wantAudit: "refused:expired", wantActor: "link:alice@example.com",
		},
		{
			name: "malformed token", token: func(*testing.T) string { return "not-a-token" },
			form: url.Values{"decision": {"approve"}, "name": {"alice"}}, wantStatus: http.StatusBadRequest, wantBody: "Unreadable approval token", wantOutcome: outcomeMalformed,
		},
		{
			name: "namespace outside the allowlist", token: func(t *testing.T) string { return tokenFor(t, testKey, undoElse, t0, t0.Add(time.Hour)) },
			form: url.Values{"decision": {"approve"}, "name": {"alice"}}, wantStatus: http.StatusUnprocessableEntity, wantBody: "is not allowlisted", wantOutcome: outcomeRefused, wantAudit: "refused:not_allowlisted",
		},
		{
			name: "kind outside the allowlist", token: func(t *testing.T) string { return tokenFor(t, testKey, restart, t0, t0.Add(time.Hour)) },
			form: url.Values{"decision": {"approve"}, "name": {"alice"}}, wantStatus: http.StatusUnprocessableEntity, wantBody: "is not allowlisted", wantOutcome: outcomeRefused, wantAudit: "refused:not_allowlisted",
		},
		{
			name: "scale out of bounds", token: func(t *testing.T) string { return tokenFor(t, testKey, scaleBig, t0, t0.Add(time.Hour)) },
			form: url.Values{"decision": {"approve"}, "name": {"alice"}}, wantStatus: http.StatusUnprocessableEntity, wantBody: "outside the allowed [1, 5]", wantOutcome: outcomeRefused, wantAudit: "refused:out_of_bounds",
		},
		{
			name: "forged and no name: the token is the first problem", token: func(t *testing.T) string { return tokenFor(t, otherKey, undoWeb, t0, t0.Add(time.Hour)) },
			form: url.Values{"decision": {"approve"}}, wantStatus: http.StatusForbidden, wantBody: "not signed by Foresight", wantOutcome: outcomeForged,
		},
		{
			name: "no name", token: valid, form: url.Values{"decision": {"approve"}},
			wantStatus: http.StatusBadRequest, wantBody: "Type your name", wantOutcome: outcomeAnonymous, wantAudit: "refused:anonymous",
		},
		{
			name: "typed name without --allow-self-declared-approvers", noSelfDeclared: true, token: valid, form: url.Values{"decision": {"approve"}, "name": {"alice"}},
			wantStatus: http.StatusForbidden, wantBody: "--allow-self-declared-approvers", wantOutcome: outcomeUnauthorized,
			wantAudit: "refused:unauthorized", wantActor: "link:alice (self-declared)",
		},
		{
			name: "rejection without --allow-self-declared-approvers", noSelfDeclared: true, token: valid, form: url.Values{"decision": {"reject"}, "name": {"bob"}},
			wantStatus: http.StatusForbidden, wantBody: "--identity-header", wantOutcome: outcomeUnauthorized, wantAudit: "refused:unauthorized",
		},
		{
			name: "no name without --allow-self-declared-approvers", noSelfDeclared: true, token: valid, form: url.Values{"decision": {"approve"}},
			wantStatus: http.StatusForbidden, wantBody: "Link approvals are off", wantOutcome: outcomeUnauthorized, wantAudit: "refused:unauthorized",
		},
		{
			name: "bad decision", token: valid, form: url.Values{"decision": {"yes please"}, "name": {"alice"}},
			wantStatus: http.StatusBadRequest, wantBody: "decision must be approve or reject", wantOutcome: outcomeMalformed,
		},
		{
			name: "proxy header missing", identityHeader: "X-Forwarded-Email", token: valid, form: url.Values{"decision": {"approve"}, "name": {"alice"}},
			wantStatus: http.StatusForbidden, wantBody: "Sign in through the proxy", wantOutcome: outcomeAnonymous, wantAudit: "refused:anonymous",
		},
		{
			name: "proxy header without --allow-self-declared-approvers", identityHeader: "X-Forwarded-Email", noSelfDeclared: true, token: valid,
			form: url.Values{"decision": {"approve"}}, header: http.Header{"X-Forwarded-Email": {"alice@example.com"}},
			wantStatus: http.StatusAccepted, wantBody: "Approved by link:alice@example.com", wantOutcome: outcomeAccepted,
			wantCalls: 1, wantAudit: "approved", wantApprover: "link:alice@example.com",
		},
		{
			name: "proxy header names the approver", identityHeader: "X-Forwarded-Email", token: valid,
			form: url.Values{"decision": {"approve"}, "name": {"someone else"}}, header: http.Header{"X-Forwarded-Email": {"alice@example.com"}},
			wantStatus: http.StatusAccepted, wantBody: "Approved by link:alice@example.com", wantOutcome: outcomeAccepted,
			wantCalls: 1, wantAudit: "approved", wantApprover: "link:alice@example.com",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, harnessOpts{identityHeader: tc.identityHeader, noSelfDeclared: tc.noSelfDeclared})
			tc.form.Set("token", tc.token(t))
			status, body, outcome := h.postFormOutcome("/approve", tc.form, tc.header)
			h.drain()
			if status != tc.wantStatus || !strings.Contains(body, tc.wantBody) {
				t.Fatalf("POST /approve: %d %s\nwant %d containing %q", status, body, tc.wantStatus, tc.wantBody)
			}
			if outcome != tc.wantOutcome {
				t.Errorf("%s: %q, want %q", HeaderOutcome, outcome, tc.wantOutcome)
			}
			if got := h.requests(endpointLink, tc.wantOutcome); got != 1 {
				t.Errorf("foresight_approval_requests_total{endpoint=link,outcome=%s} = %v, want 1", tc.wantOutcome, got)
			}
			calls := h.exec.Calls()
			if len(calls) != tc.wantCalls {
				t.Fatalf("Execute called %d times, want %d", len(calls), tc.wantCalls)
			}
			if tc.wantCalls == 1 {
				c := calls[0]
				if c.Approver != tc.wantApprover || c.Via != "link" || c.Action.String() != undoWeb.String() || c.CorrelationID != "a1b2c3d4" || len(c.ProposalID) != 32 {
					t.Errorf("Execute got %+v", c)
				}
			}
			if ev := strings.Join(h.audit.Events(), ","); ev != tc.wantAudit {
				t.Errorf("audit events %q, want %q", ev, tc.wantAudit)
			}
			if tc.wantActor != "" {
				if e := h.audit.last(); e.Actor != tc.wantActor || e.ProposalID == "" {
					t.Errorf("audit entry %+v, want actor %q and the proposal", e, tc.wantActor)
				}
			}
			// The result webhook hears of every decision that was made.
			h.slack.mu.Lock()
			defer h.slack.mu.Unlock()
			switch tc.wantOutcome {
			case outcomeAccepted:
				if len(h.slack.webhooks) != 1 || h.slack.webhooks[0].Result == nil || h.slack.webhooks[0].Result.Outcome != remediate.OutcomeExecuted || h.slack.webhooks[0].Approver != tc.wantApprover {
					t.Errorf("result webhook got %+v, want one executed result", h.slack.webhooks)
				}
			case outcomeRejected:
				if len(h.slack.webhooks) != 1 || h.slack.webhooks[0].Decision != DecisionReject || h.slack.webhooks[0].Result != nil {
					t.Errorf("result webhook got %+v, want one rejection", h.slack.webhooks)
				}
			default:
				if len(h.slack.webhooks) != 0 {
					t.Errorf("result webhook got %+v for a request that decided nothing", h.slack.webhooks)
				}
			}
		})
	}
}

func TestLinkApprovedTwiceExecutesOnce(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	tok := tokenFor(t, testKey, undoWeb, t0, t0.Add(time.Hour))
	if status, body := h.postForm("/approve", url.Values{"token": {tok}, "decision": {"approve"}, "name": {"alice"}}, nil); status != http.StatusAccepted {
		t.Fatalf("first approval: %d %s", status, body)
	}
	h.now = h.now.Add(time.Minute)
	for _, decision := range []string{"approve", "reject"} {
		status, body := h.postForm("/approve", url.Values{"token": {tok}, "decision": {decision}, "name": {"bob"}}, nil)
		want := "Already approved by link:alice (self-declared) at " + t0.Add(time.Minute).Format(time.RFC3339)
		if status != http.StatusGone || !strings.Contains(body, want) {
			t.Fatalf("%s after approval: %d %s\nwant 410 saying %q", decision, status, body, want)
		}
	}
	// The page says so too, without buttons.
	status, body := get(t, h.http.URL+"/approve?token="+url.QueryEscape(tok))
	if status != http.StatusGone || strings.Contains(body, "<form") || !strings.Contains(body, "Already approved by link:alice") {
		t.Fatalf("GET after approval: %d %s", status, body)
	}
	h.drain()
	if n := len(h.exec.Calls()); n != 1 {
		t.Fatalf("Execute called %d times, want 1", n)
	}
	if got := h.requests(endpointLink, outcomeReplayed); got != 2 {
		t.Errorf("replayed requests counted %v, want 2", got)
	}
}

func TestRejectedCannotBeApproved(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	tok := tokenFor(t, testKey, undoWeb, t0, t0.Add(time.Hour))
	if status, _ := h.postForm("/approve", url.Values{"token": {tok}, "decision": {"reject"}, "name": {"bob"}}, nil); status != http.StatusOK {
		t.Fatalf("reject: %d", status)
	}
	status, body := h.postForm("/approve", url.Values{"token": {tok}, "decision": {"approve"}, "name": {"alice"}}, nil)
	h.drain()
	if status != http.StatusGone || !strings.Contains(body, "Already rejected by link:bob") {
		t.Fatalf("approve after reject: %d %s", status, body)
	}
	if n := len(h.exec.Calls()); n != 0 {
		t.Fatalf("Execute called %d times after a rejection", n)
	}
}

func TestConcurrentApprovalsExecuteOnce(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	tok := tokenFor(t, testKey, undoWeb, t0, t0.Add(time.Hour))
	statuses := make(chan int, 10)
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodPost, h.http.URL+"/approve",
				strings.NewReader(url.Values{"token": {tok}, "decision": {"approve"}, "name": {"user" + strconv.Itoa(i)}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			statuses <- resp.StatusCode
		})
	}
	wg.Wait()
	close(statuses)
	h.drain()
	count := map[int]int{}
	for s := range statuses {
		count[s]++
	}
	if count[http.StatusAccepted] != 1 || count[http.StatusGone] != 9 {
		t.Fatalf("statuses %v, want one 202 and nine 410", count)
	}
	if n := len(h.exec.Calls()); n != 1 {
		t.Fatalf("Execute called %d times, want exactly 1", n)
	}
}

func TestStoreRestartKeepsProposalsUsed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "approvals.db")
	tok := tokenFor(t, testKey, undoWeb, t0, t0.Add(time.Hour))
	h := newHarness(t, harnessOpts{store: path})
	if status, _ := h.postForm("/approve", url.Values{"token": {tok}, "decision": {"approve"}, "name": {"alice"}}, nil); status != http.StatusAccepted {
		t.Fatalf("approval: %d", status)
	}
	h.drain()
	h.http.Close()
	if err := h.store.Close(); err != nil {
		t.Fatal(err)
	}

	h2 := newHarness(t, harnessOpts{store: path})
	status, body := h2.postForm("/approve", url.Values{"token": {tok}, "decision": {"approve"}, "name": {"bob"}}, nil)
	h2.drain()
	if status != http.StatusGone || !strings.Contains(body, "Already approved by link:alice") {
		t.Fatalf("approval after restart: %d %s", status, body)
	}
	if n := len(h2.exec.Calls()); n != 0 {
		t.Fatalf("restarted approver executed %d times", n)
	}
}

func get(t *testing.T, u string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	return do(t, req)
}

func TestPageNeverExecutesAndEscapes(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	id, _ := NewID()
	tok := mustSign(t, testKey, Proposal{ID: id, CorrelationID: `<script>alert("x")</script>`, Action: undoWeb, Issued: t0, Expires: t0.Add(time.Hour)})
	for range 3 { // link unfurlers and scanners fetch links, several times
		status, body := get(t, h.http.URL+"/approve?token="+url.QueryEscape(tok))
		if status != http.StatusOK {
			t.Fatalf("GET: %d %s", status, body)
		}
		for _, want := range []string{
			"kubectl rollout undo deployment/web --to-revision=3 -n shop", "2026-11-24T13:00:00Z", `name="name"`,
			`value="approve"`, `value="reject"`, "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;", `action="approve"`,
		} {
			if !strings.Contains(body, want) {
				t.Errorf("page lacks %q:\n%s", want, body)
			}
		}
		if strings.Contains(body, "<script>") {
			t.Fatalf("page does not escape the correlation id:\n%s", body)
		}
	}
	h.drain()
	if n := len(h.exec.Calls()); n != 0 {
		t.Fatalf("GET executed %d times", n)
	}
	if _, used, _ := h.store.Get(id); used {
		t.Fatal("GET claimed the proposal")
	}
	if ev := h.audit.Events(); len(ev) != 0 {
		t.Fatalf("GET audited %v", ev)
	}

	for _, tc := range []struct {
		name, token string
		want        int
	}{
		{"forged", tokenFor(t, otherKey, undoWeb, t0, t0.Add(time.Hour)), http.StatusForbidden},
		{"expired", tokenFor(t, testKey, undoWeb, t0.Add(-2*time.Hour), t0), http.StatusGone},
		{"garbage", "%%%", http.StatusBadRequest},
		{"none", "", http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := get(t, h.http.URL+"/approve?token="+url.QueryEscape(tc.token))
			if status != tc.want || strings.Contains(body, "<form") {
				t.Fatalf("GET %s: %d (want %d) %s", tc.name, status, tc.want, body)
			}
		})
	}
}

func TestPageWithIdentityHeaderAsksNoName(t *testing.T) {
	h := newHarness(t, harnessOpts{identityHeader: "X-Forwarded-Email"})
	_, body := get(t, h.http.URL+"/approve?token="+url.QueryEscape(tokenFor(t, testKey, undoWeb, t0, t0.Add(time.Hour))))
	if strings.Contains(body, `name="name"`) || !strings.Contains(body, "<form") {
		t.Fatalf("page with an identity header:\n%s", body)
	}
}

// slackRequest builds a block_actions request signed as Slack signs it.
func slackRequest(t *testing.T, h *harness, actionID, token string, signedAt time.Time, secret string) *http.Request {
	t.Helper()
	return signedSlackRequest(t, h, slackPayload(h, actionID, token), signedAt, secret)
}

func slackPayload(h *harness, actionID, token string) map[string]any {
	return map[string]any{
		"type": "block_actions", "user": map[string]any{"id": "U045VRZFT", "username": "alice", "team_id": "T0MJR11A4"},
		"team":         map[string]any{"id": "T0MJR11A4", "domain": "example"},
		"actions":      []map[string]any{{"action_id": actionID, "value": token, "type": "button"}},
		"response_url": h.slack.srv.URL + "/actions/T0MJR11A4/1234567890/abcdefgh",
		"channel":      map[string]any{"id": "C0123ALERTS"},
		"message":      map[string]any{"ts": "1732450000.000200", "thread_ts": "1732449990.000100"},
	}
}

func signedSlackRequest(t *testing.T, h *harness, payload map[string]any, signedAt time.Time, secret string) *http.Request {
	t.Helper()
	js, _ := json.Marshal(payload)
	body := "payload=" + url.QueryEscape(string(js))
	ts := strconv.FormatInt(signedAt.Unix(), 10)
	req, _ := http.NewRequest(http.MethodPost, h.http.URL+"/slack/interactions", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set(HeaderSlackTimestamp, ts)
	req.Header.Set(HeaderSlackSignature, SlackSignature([]byte(secret), ts, []byte(body)))
	return req
}

func TestSlackApproval(t *testing.T) {
	for _, tc := range []struct {
		name       string
		slackToken string
	}{
		{"result in the thread (bot token)", "xoxb-test"},
		{"result to response_url", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, harnessOpts{slackToken: tc.slackToken})
			tok := tokenFor(t, testKey, undoWeb, t0, t0.Add(time.Hour))
			// Slack wants 200 for every interaction; the outcome is in the
			// header and in a private reply.
			if status, outcome := slackClick(t, slackRequest(t, h, ActionApprove, tok, h.now, slackDocSecret)); status != http.StatusOK || outcome != outcomeAccepted {
				t.Fatalf("approve: %d %s", status, outcome)
			}
			// A second click: executed once, and the clicker is told
			// privately who decided first.
			if status, outcome := slackClick(t, slackRequest(t, h, ActionApprove, tok, h.now, slackDocSecret)); status != http.StatusOK || outcome != outcomeReplayed {
				t.Fatalf("second click: %d %s", status, outcome)
			}
			h.drain()
			calls := h.exec.Calls()
			if len(calls) != 1 || calls[0].Approver != "slack:U045VRZFT (alice)" || calls[0].Via != "slack" {
				t.Fatalf("Execute calls %+v, want one by slack:U045VRZFT (alice)", calls)
			}
			h.slack.mu.Lock()
			defer h.slack.mu.Unlock()
			var result map[string]any
			var ephemeral []map[string]any
			for _, r := range h.slack.replies {
				if r["response_type"] == "ephemeral" {
					ephemeral = append(ephemeral, r)
				} else {
					result = r
				}
			}
			if len(ephemeral) != 2 {
				t.Fatalf("private replies %+v, want one per click", ephemeral)
			}
			told := []string{ephemeral[0]["text"].(string), ephemeral[1]["text"].(string)}
			if !strings.Contains(told[0]+told[1], "Approved by slack:U045VRZFT (alice): kubectl rollout undo deployment/web --to-revision=3 -n shop is executing") ||
				!strings.Contains(told[0]+told[1], "Already approved by slack:U045VRZFT (alice) at") || ephemeral[0]["replace_original"] != false {
				t.Errorf("the clickers were told %q", told)
			}
			if tc.slackToken != "" {
				if len(h.slack.posts) != 1 || result != nil {
					t.Fatalf("chat.postMessage got %v, response_url got %v; want the result in the thread only", h.slack.posts, result)
				}
				p := h.slack.posts[0]
				if p["channel"] != "C0123ALERTS" || p["thread_ts"] != "1732449990.000100" || !strings.Contains(p["text"].(string), "Executed `kubectl rollout undo deployment/web --to-revision=3 -n shop` (approved by slack:U045VRZFT (alice))") {
					t.Errorf("chat.postMessage body %v", p)
				}
				return
			}
			if len(h.slack.posts) != 0 || result == nil {
				t.Fatalf("chat.postMessage got %v, response_url got %v; want the result at response_url", h.slack.posts, result)
			}
			if result["replace_original"] != false || !strings.Contains(result["text"].(string), "Executed `kubectl rollout undo") {
				t.Errorf("response_url body %v", result)
			}
		})
	}
}

func TestSlackRefusals(t *testing.T) {
	valid := func(t *testing.T) string { return tokenFor(t, testKey, undoWeb, t0, t0.Add(time.Hour)) }
	for _, tc := range []struct {
		name        string
		actionID    string
		token       func(t *testing.T) string
		signedAgo   time.Duration
		secret      string
		noSlack     bool
		wantStatus  int
		wantOutcome string
		wantTold    string // ephemeral message to the clicker
	}{
		{"signed with another secret", ActionApprove, valid, 0, "not-the-secret", false, http.StatusForbidden, outcomeForged, ""},
		{"timestamp 6 minutes old", ActionApprove, valid, 6 * time.Minute, slackDocSecret, false, http.StatusForbidden, outcomeStale, ""},
		{"forged token", ActionApprove, func(t *testing.T) string { return tokenFor(t, otherKey, undoWeb, t0, t0.Add(time.Hour)) }, 0, slackDocSecret, false, http.StatusOK, outcomeForged, "not signed by Foresight"},
		{"expired token", ActionApprove, func(t *testing.T) string { return tokenFor(t, testKey, undoWeb, t0.Add(-2*time.Hour), t0) }, 0, slackDocSecret, false, http.StatusOK, outcomeExpired, "expired"},
		{"out of the allowlist", ActionApprove, func(t *testing.T) string { return tokenFor(t, testKey, undoElse, t0, t0.Add(time.Hour)) }, 0, slackDocSecret, false, http.StatusOK, outcomeRefused, "not allowlisted"},
		{"garbage token", ActionApprove, func(*testing.T) string { return "garbage" }, 0, slackDocSecret, false, http.StatusOK, outcomeMalformed, "Unreadable approval token"},
		{"unknown action_id", "delete_everything", valid, 0, slackDocSecret, false, http.StatusBadRequest, outcomeMalformed, ""},
		{"slack not configured", ActionApprove, valid, 0, slackDocSecret, true, http.StatusNotFound, outcomeDisabled, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, harnessOpts{noSlack: tc.noSlack, slackToken: "xoxb-test"})
			status, outcome := slackClick(t, slackRequest(t, h, tc.actionID, tc.token(t), h.now.Add(-tc.signedAgo), tc.secret))
			h.drain()
			if status != tc.wantStatus || outcome != tc.wantOutcome {
				t.Fatalf("answer %d %s, want %d %s", status, outcome, tc.wantStatus, tc.wantOutcome)
			}
			if got := h.requests(endpointSlack, tc.wantOutcome); got != 1 {
				t.Errorf("requests{slack,%s} = %v, want 1", tc.wantOutcome, got)
			}
			if n := len(h.exec.Calls()); n != 0 {
				t.Fatalf("Execute called %d times", n)
			}
			h.slack.mu.Lock()
			defer h.slack.mu.Unlock()
			if len(h.slack.posts) != 0 {
				t.Errorf("posted to the thread: %v", h.slack.posts)
			}
			if tc.wantTold == "" {
				if len(h.slack.replies) != 0 {
					t.Errorf("answered an unverified request at its response_url: %v", h.slack.replies)
				}
				return
			}
			if len(h.slack.replies) != 1 || h.slack.replies[0]["response_type"] != "ephemeral" || !strings.Contains(h.slack.replies[0]["text"].(string), tc.wantTold) {
				t.Errorf("the clicker was told %v, want %q", h.slack.replies, tc.wantTold)
			}
		})
	}
}

func TestSlackReject(t *testing.T) {
	h := newHarness(t, harnessOpts{slackToken: "xoxb-test"})
	tok := tokenFor(t, testKey, undoWeb, t0, t0.Add(time.Hour))
	if status, outcome := slackClick(t, slackRequest(t, h, ActionReject, tok, h.now, slackDocSecret)); status != http.StatusOK || outcome != outcomeRejected {
		t.Fatalf("reject: %d %s", status, outcome)
	}
	_, outcome := slackClick(t, slackRequest(t, h, ActionApprove, tok, h.now, slackDocSecret))
	h.drain()
	if outcome != outcomeReplayed || len(h.exec.Calls()) != 0 {
		t.Fatalf("approve after reject: %s, %d executions", outcome, len(h.exec.Calls()))
	}
	if ev := strings.Join(h.audit.Events(), ","); ev != "rejected,refused:replayed" {
		t.Errorf("audit %q", ev)
	}
	h.slack.mu.Lock()
	defer h.slack.mu.Unlock()
	if len(h.slack.posts) != 1 || !strings.Contains(h.slack.posts[0]["text"].(string), "Rejected by slack:U045VRZFT (alice)") {
		t.Errorf("thread got %v", h.slack.posts)
	}
}

func TestBadInputNeverCrashes(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	for _, tc := range []struct {
		name, path, body string
		want             int
	}{
		{"huge link body", "/approve", "token=" + strings.Repeat("a", 70<<10), http.StatusRequestEntityTooLarge},
		{"huge slack body", "/slack/interactions", strings.Repeat("a", 1<<20+1), http.StatusRequestEntityTooLarge},
		{"bad form escape", "/approve", "token=%zz&decision=approve", http.StatusBadRequest},
		{"unsigned slack", "/slack/interactions", "payload=%7B%7D", http.StatusForbidden},
		{"empty", "/approve", "", http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, h.http.URL+tc.path, strings.NewReader(tc.body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if status, body := do(t, req); status != tc.want {
				t.Fatalf("%d %s, want %d", status, body, tc.want)
			}
		})
	}
	req, _ := http.NewRequest(http.MethodDelete, h.http.URL+"/approve", nil)
	if status, _ := do(t, req); status != http.StatusMethodNotAllowed {
		t.Errorf("DELETE /approve: %d, want 405", status)
	}
	h.drain()
	if n := len(h.exec.Calls()); n != 0 {
		t.Fatalf("bad input executed %d times", n)
	}
}

func TestShutdownWaitsForExecutions(t *testing.T) {
	exec := &fakeExecutor{release: make(chan struct{}), started: make(chan struct{}, 1)}
	h := newHarness(t, harnessOpts{exec: exec})
	tok := tokenFor(t, testKey, undoWeb, t0, t0.Add(time.Hour))
	if status, _ := h.postForm("/approve", url.Values{"token": {tok}, "decision": {"approve"}, "name": {"alice"}}, nil); status != http.StatusAccepted {
		t.Fatalf("approval: %d", status)
	}
	<-exec.started
	done := make(chan error, 1)
	go func() { done <- h.srv.Shutdown(context.Background()) }()
	// While it waits, new approvals are turned away and nothing is claimed.
	tok2 := tokenFor(t, testKey, undoWeb, t0, t0.Add(time.Hour))
	for {
		h.srv.mu.Lock()
		stopping := h.srv.stopping
		h.srv.mu.Unlock()
		if stopping {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if status, body := h.postForm("/approve", url.Values{"token": {tok2}, "decision": {"approve"}, "name": {"bob"}}, nil); status != http.StatusServiceUnavailable {
		t.Fatalf("approval during shutdown: %d %s", status, body)
	}
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned (%v) while an execution was in flight", err)
	default:
	}
	close(exec.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	h.slack.mu.Lock()
	defer h.slack.mu.Unlock()
	if len(h.slack.webhooks) != 1 || h.slack.webhooks[0].Result.Outcome != remediate.OutcomeExecuted {
		t.Fatalf("result webhook after shutdown: %+v", h.slack.webhooks)
	}
}

func TestShutdownDeadlineCancelsExecutions(t *testing.T) {
	exec := &fakeExecutor{release: make(chan struct{}), started: make(chan struct{}, 1)}
	h := newHarness(t, harnessOpts{exec: exec})
	tok := tokenFor(t, testKey, undoWeb, t0, t0.Add(time.Hour))
	if status, _ := h.postForm("/approve", url.Values{"token": {tok}, "decision": {"approve"}, "name": {"alice"}}, nil); status != http.StatusAccepted {
		t.Fatalf("approval: %d", status)
	}
	<-exec.started
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the grace period is over
	if err := h.srv.Shutdown(ctx); err == nil {
		t.Fatal("Shutdown past its deadline returned nil")
	}
	h.slack.mu.Lock()
	defer h.slack.mu.Unlock()
	if len(h.slack.webhooks) != 1 || h.slack.webhooks[0].Result.Outcome != remediate.OutcomeRefused {
		t.Fatalf("the canceled execution's result was not posted: %+v", h.slack.webhooks)
	}
}
