package approval

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/foresight-aiops/foresight/remediate"
)

// Executor runs an approved action (remediate.Executor). Execute blocks
// while a disruptive action waits for the stability gate.
type Executor interface {
	Execute(ctx context.Context, ap remediate.Approval) remediate.Result
}

// Recorder writes the audit trail (remediate.Audit).
type Recorder interface {
	Record(ctx context.Context, e remediate.Entry)
}

// Options configure a Server. Key, Config, Executor and Store are
// required.
type Options struct {
	// Key verifies proposal tokens (the key foresight enrich signs with).
	Key []byte
	// Config is the allowlist; the server checks it before claiming a
	// proposal (without label selectors, which need the live object: the
	// executor checks those).
	Config   *remediate.Config
	Executor Executor
	Store    *Store
	// Audit records approvals, rejections and refusals; nil records
	// nothing (the executor records what it does).
	Audit Recorder
	// SlackSigningSecret enables POST /slack/interactions; empty answers
	// 404 there.
	SlackSigningSecret []byte
	// SlackToken, when set, posts results with chat.postMessage in the
	// alert's thread; otherwise to the interaction's response_url.
	SlackToken string
	// SlackAPIURL is Slack's Web API base; "" means https://slack.com/api.
	SlackAPIURL string
	// ResultWebhook receives the results of link approvals as JSON; ""
	// posts them nowhere (they are still audited and logged).
	ResultWebhook string
	// IdentityHeader names a header set by a trusted auth proxy naming
	// the approver of a link; "" takes the name typed in the form, if
	// AllowSelfDeclared.
	IdentityHeader string
	// AllowSelfDeclared accepts link approvals named only by what the
	// approver typed ("link:alice (self-declared)") when IdentityHeader
	// is "". False (the default) refuses such approvals with 403: the
	// token alone would then be enough to approve.
	AllowSelfDeclared bool
	// SlackAllowedTeams, SlackAllowedChannels and SlackAllowedUsers are
	// the Slack workspace (team), channel and user IDs whose clicks may
	// decide; an empty list allows any. A click from elsewhere is
	// refused (outcome unauthorized), audited and counted.
	SlackAllowedTeams, SlackAllowedChannels, SlackAllowedUsers []string
	// MaxBodyBytes bounds a POST /approve body; 0 means 64 KiB.
	MaxBodyBytes int64
	// MaxSlackBodyBytes bounds a POST /slack/interactions body; 0 means
	// 1 MiB (block_actions payloads repeat the message, which can be a
	// long analysis).
	MaxSlackBodyBytes int64
	Client            *http.Client
	Logger            *slog.Logger
	Registerer        prometheus.Registerer
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Server is the approver's HTTP side: GET/POST /approve and POST
// /slack/interactions.
type Server struct {
	o        Options
	precheck *remediate.Config
	logger   *slog.Logger
	metrics  *metrics

	// exec bounds the background executions; Shutdown cancels it when its
	// own deadline passes. It lives as long as the server, as
	// http.Server's base context does.
	exec       context.Context //nolint:containedctx // the lifetime root of background executions
	cancelExec context.CancelFunc
	mu         sync.Mutex
	stopping   bool
	wg         sync.WaitGroup
	// clicks remembers recent Slack deliveries (see seenClick).
	clicks map[clickKey]time.Time
}

// NewServer validates o and returns the server.
func NewServer(o Options) (*Server, error) {
	if err := CheckKey(o.Key); err != nil {
		return nil, err
	}
	switch {
	case o.Config == nil:
		return nil, errors.New("approval server: no remediation config")
	case o.Executor == nil:
		return nil, errors.New("approval server: no executor")
	case o.Store == nil:
		return nil, errors.New("approval server: no store")
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 64 << 10
	}
	if o.MaxSlackBodyBytes <= 0 {
		o.MaxSlackBodyBytes = 1 << 20
	}
	if o.SlackAPIURL == "" {
		o.SlackAPIURL = "https://slack.com/api"
	}
	o.SlackAPIURL = strings.TrimRight(o.SlackAPIURL, "/")
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	pre, err := withoutSelectors(o.Config)
	if err != nil {
		return nil, err
	}
	s := &Server{o: o, precheck: pre, logger: logger, metrics: newMetrics(o.Registerer), clicks: map[clickKey]time.Time{}}
	s.exec, s.cancelExec = context.WithCancel(context.Background())
	return s, nil
}

// withoutSelectors copies c with every rule's label selector removed: the
// server checks kind, resource, namespace and bounds before claiming a
// proposal, and the executor checks the selector against the live object.
func withoutSelectors(c *remediate.Config) (*remediate.Config, error) {
	cp := *c
	cp.Allow = make([]remediate.Rule, len(c.Allow))
	for i, r := range c.Allow {
		r.Selector = ""
		cp.Allow[i] = r
	}
	if err := cp.Validate(); err != nil {
		return nil, fmt.Errorf("approval server: %w", err)
	}
	return &cp, nil
}

// Handler serves /approve and /slack/interactions.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /approve", s.servePage)
	mux.HandleFunc("POST /approve", s.serveLink)
	mux.HandleFunc("POST /slack/interactions", s.serveSlack)
	return mux
}

// Shutdown refuses new approvals (503) and waits for the executions in
// flight. If ctx ends first, it cancels them (the executor gives up
// waiting for the gate and reports so), waits for their results to be
// posted, and returns ctx's error.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.stopping = true
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		s.cancelExec()
		return nil
	case <-ctx.Done():
		s.cancelExec()
		<-done
		return ctx.Err()
	}
}

// count counts a request by outcome and names the outcome in the answer's
// X-Foresight-Outcome header.
func (s *Server) count(w http.ResponseWriter, endpoint, outcome string) {
	s.metrics.requests.WithLabelValues(endpoint, outcome).Inc()
	w.Header().Set(HeaderOutcome, outcome)
}

// begin registers background work that Shutdown waits for; false once
// Shutdown has begun.
func (s *Server) begin() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping {
		return false
	}
	s.wg.Add(1)
	return true
}

// request is one decision, from either channel.
type request struct {
	endpoint string
	token    string
	decision string
	identity string
	via      string // "slack" or "link"
	slack    *Interaction
	// refuse, when set, refuses the request once its token is known to
	// be good (a link without an identity; a Slack click from outside the
	// allowed teams, channels or users). Its outcome is the audit reason.
	refuse *answer
}

// answer is what the requester is told.
type answer struct {
	status  int
	outcome string
	message string
}

// decide runs the flow shared by links and Slack: verify the token, check
// the allowlist, claim the proposal, audit, and start the execution.
func (s *Server) decide(ctx context.Context, r request) (Proposal, answer) {
	now := s.o.Now()
	p, err := Verify(s.o.Key, r.token, now)
	switch {
	case errors.Is(err, ErrForged):
		s.logger.WarnContext(ctx, "approval with a forged token refused", "endpoint", r.endpoint, "identity", r.identity)
		return p, answer{http.StatusForbidden, outcomeForged, "This approval token is not signed by Foresight's key: nothing was done."}
	case errors.Is(err, ErrExpired):
		s.audit(ctx, remediate.EventRefused, p, r, outcomeExpired, err.Error())
		return p, answer{http.StatusGone, outcomeExpired, "This proposal expired at " + p.Expires.UTC().Format(time.RFC3339) + ": nothing was done. Act from a fresh alert analysis."}
	case err != nil:
		return p, answer{http.StatusBadRequest, outcomeMalformed, "Unreadable approval token: " + err.Error()}
	case r.refuse != nil:
		s.logger.WarnContext(ctx, "approval refused: the approver is not known or not allowed", "endpoint", r.endpoint, "reason", r.refuse.outcome,
			"identity", r.identity, "proposal_id", p.ID)
		s.audit(ctx, remediate.EventRefused, p, r, r.refuse.outcome, r.refuse.message)
		return p, *r.refuse
	}
	if r.decision == DecisionApprove {
		if err := s.precheck.Check(p.Action, nil); err != nil {
			reason := remediate.ReasonNotAllowlisted
			if rf, ok := remediate.IsRefusal(err); ok {
				reason = rf.Reason
			}
			s.audit(ctx, remediate.EventRefused, p, r, reason, err.Error())
			return p, answer{http.StatusUnprocessableEntity, outcomeRefused, "Refused by the allowlist: " + err.Error()}
		}
	}
	// Taken before the claim, so that Shutdown waits for the execution
	// (or the post-back of a rejection) the claim starts.
	if !s.begin() {
		a := answer{http.StatusServiceUnavailable, outcomeStopping, "The approver is restarting: try again in a minute (nothing was done)."}
		s.audit(ctx, remediate.EventRefused, p, r, a.outcome, a.message)
		return p, a
	}
	claim := Claim{By: r.identity, Decision: r.decision, At: now, Expires: p.Expires}
	first, prev, err := s.o.Store.Claim(p.ID, claim)
	if err != nil || !first {
		s.wg.Done()
		if err != nil {
			s.logger.ErrorContext(ctx, "approval store claim", "proposal_id", p.ID, "err", err)
			a := answer{http.StatusInternalServerError, outcomeStoreError, "The approver could not record the decision (nothing was done): " + err.Error()}
			s.audit(ctx, remediate.EventRefused, p, r, a.outcome, a.message)
			return p, a
		}
		msg := fmt.Sprintf("Already %s by %s at %s: nothing more was done.", pastTense(prev.Decision), prev.By, prev.At.UTC().Format(time.RFC3339))
		s.audit(ctx, remediate.EventRefused, p, r, outcomeReplayed, msg)
		return p, answer{http.StatusGone, outcomeReplayed, msg}
	}
	cmd := p.Action.String()
	if r.decision == DecisionReject {
		s.audit(ctx, remediate.EventRejected, p, r, "", "")
		go func() {
			defer s.wg.Done()
			s.postBack(r, p, fmt.Sprintf("Rejected by %s: `%s` will not run.", r.identity, cmd), nil)
		}()
		return p, answer{http.StatusOK, outcomeRejected, "Rejected: " + cmd + " will not run."}
	}
	s.audit(ctx, remediate.EventApproved, p, r, "", "")
	ap := remediate.Approval{ProposalID: p.ID, CorrelationID: p.CorrelationID, Action: p.Action, Approver: r.identity, Via: r.via, At: now}
	go s.execute(ap, r, p, claim)
	where := "to the result webhook"
	switch {
	case r.via == "slack" && s.o.SlackToken != "":
		where = "in the alert's thread"
	case r.via == "slack":
		where = "in this channel"
	case s.o.ResultWebhook == "":
		where = "in the approver's audit log"
	}
	return p, answer{http.StatusAccepted, outcomeAccepted, fmt.Sprintf("Approved by %s: %s is executing (a node action may wait for the cluster to settle); the result will be posted %s.", r.identity, cmd, where)}
}

func pastTense(d string) string {
	if d == DecisionReject {
		return "rejected"
	}
	return "approved"
}

// EventReleased is the audit event of a proposal whose claim was
// released after a retryable refusal: it can be approved again.
const EventReleased = "released"

// execute runs one approved action in the background and posts its
// result. A refusal that wrote nothing and may pass later
// (remediate.Result.Retryable: the budget, the gate, a shutdown, ...)
// releases the claim, so that the same button or link works again; any
// other result leaves the proposal used.
func (s *Server) execute(ap remediate.Approval, r request, p Proposal, claim Claim) {
	defer s.wg.Done()
	s.metrics.inflight.Inc()
	defer s.metrics.inflight.Dec()
	res := s.o.Executor.Execute(s.exec, ap)
	s.metrics.results.WithLabelValues(res.Outcome, res.Reason).Inc()
	released := res.Retryable() && s.release(r, p, claim, res)
	s.logger.Info("approved action finished", "proposal_id", p.ID, "correlation_id", p.CorrelationID, "command", p.Action.String(),
		"approver", ap.Approver, "outcome", res.Outcome, "reason", res.Reason, "message", res.Message, "released", released)
	var text string
	switch res.Outcome {
	case remediate.OutcomeExecuted:
		text = fmt.Sprintf("Executed `%s` (approved by %s): %s", p.Action, ap.Approver, res.Message)
	case remediate.OutcomeRefused:
		text = fmt.Sprintf("Refused `%s` (approved by %s; %s): %s", p.Action, ap.Approver, res.Reason, res.Message)
	default:
		text = fmt.Sprintf("Failed `%s` (approved by %s): %s", p.Action, ap.Approver, res.Message)
	}
	switch {
	case released:
		text += fmt.Sprintf(" Nothing was changed and the proposal is open again: approve it again later with the same button or link (until %s).", p.Expires.UTC().Format(time.RFC3339))
	case res.Outcome != remediate.OutcomeExecuted:
		text += " This proposal is used up: get a fresh proposal from a new analysis."
	}
	s.postBack(r, p, text, &res)
}

// release frees the claim of a proposal whose execution was refused for a
// retryable reason, and audits it; false (logged) when the claim stays.
func (s *Server) release(r request, p Proposal, claim Claim, res remediate.Result) bool {
	ok, err := s.o.Store.Release(p.ID, claim)
	if err != nil {
		s.logger.Error("releasing a refused proposal failed: it stays used", "proposal_id", p.ID, "err", err)
		return false
	}
	if ok {
		s.audit(context.Background(), EventReleased, p, r, res.Reason, "refused without changing anything; the proposal can be approved again")
	}
	return ok
}

func (s *Server) audit(ctx context.Context, event string, p Proposal, r request, reason, msg string) {
	if s.o.Audit == nil {
		return
	}
	s.o.Audit.Record(ctx, remediate.Entry{
		Time: s.o.Now(), Event: event, ProposalID: p.ID, CorrelationID: p.CorrelationID, Action: p.Action,
		Command: p.Action.String(), Actor: r.identity, Via: r.via, Reason: reason, Message: msg,
	})
}

// readBody reads at most limit bytes; ok is false (and the answer sent)
// when the body is larger or unreadable.
func (s *Server) readBody(w http.ResponseWriter, req *http.Request, endpoint string, limit int64) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, limit))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		s.count(w, endpoint, outcomeTooLarge)
		http.Error(w, fmt.Sprintf("request body over %d bytes", limit), http.StatusRequestEntityTooLarge)
		return nil, false
	case err != nil:
		s.count(w, endpoint, outcomeMalformed)
		http.Error(w, "unreadable request body", http.StatusBadRequest)
		return nil, false
	}
	return body, true
}

// linkIdentity names the approver of a link: the trusted header, or the
// name typed in the form when self-declared names are allowed. A problem
// refuses the request; the identity is still returned when known, for the
// audit.
func (s *Server) linkIdentity(req *http.Request, name string) (string, *answer) {
	if s.o.IdentityHeader != "" {
		v := cleanName(req.Header.Get(s.o.IdentityHeader))
		if v == "" {
			return "", &answer{http.StatusForbidden, outcomeAnonymous, "Sign in through the proxy: the approver names link approvers by the " + s.o.IdentityHeader + " header it sets, and this request has none. Nothing was done."}
		}
		return "link:" + v, nil
	}
	var id string
	if n := cleanName(name); n != "" {
		id = "link:" + n + " (self-declared)"
	}
	switch {
	case !s.o.AllowSelfDeclared:
		return id, &answer{http.StatusForbidden, outcomeUnauthorized, msgLinksOff}
	case id == "":
		return "", &answer{http.StatusBadRequest, outcomeAnonymous, "Type your name: it goes in the audit log with your decision."}
	}
	return id, nil
}

// msgLinksOff explains why a link cannot be approved without an
// identity source.
const msgLinksOff = "Link approvals are off: this approver cannot tell who you are, and the link alone is not enough to approve. " +
	"Nothing was done. Its operator can put it behind an auth proxy and start it with --identity-header (e.g. X-Forwarded-Email), " +
	"or accept typed names with --allow-self-declared-approvers; meanwhile approve from Slack, if its buttons are set up."

// cleanName keeps a name printable and short.
func cleanName(s string) string {
	s = strings.TrimSpace(strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return -1
	}, s))
	if r := []rune(s); len(r) > 100 {
		s = string(r[:100])
	}
	return s
}

func (s *Server) serveLink(w http.ResponseWriter, req *http.Request) {
	body, ok := s.readBody(w, req, endpointLink, s.o.MaxBodyBytes)
	if !ok {
		return
	}
	form, err := parseForm(body)
	if err != nil {
		s.count(w, endpointLink, outcomeMalformed)
		s.writePage(w, http.StatusBadRequest, pageData{Title: "Bad request", Message: "Unreadable form: " + err.Error()})
		return
	}
	decision := form.Get("decision")
	if decision != DecisionApprove && decision != DecisionReject {
		s.count(w, endpointLink, outcomeMalformed)
		s.writePage(w, http.StatusBadRequest, pageData{Title: "Bad request", Message: "decision must be approve or reject"})
		return
	}
	r := request{endpoint: endpointLink, token: form.Get("token"), decision: decision, via: "link"}
	r.identity, r.refuse = s.linkIdentity(req, form.Get("name"))
	p, a := s.decide(req.Context(), r)
	s.count(w, endpointLink, a.outcome)
	s.writePage(w, a.status, pageData{Title: titleOf(a), Message: a.message, Command: commandOf(p), CorrelationID: p.CorrelationID})
}

func titleOf(a answer) string {
	switch a.outcome {
	case outcomeAccepted:
		return "Approved"
	case outcomeRejected:
		return "Rejected"
	}
	return "Nothing was done"
}

func commandOf(p Proposal) string {
	if p.ID == "" {
		return ""
	}
	return p.Action.String()
}

func (s *Server) servePage(w http.ResponseWriter, req *http.Request) {
	token := req.URL.Query().Get("token")
	p, err := Verify(s.o.Key, token, s.o.Now())
	var a answer
	switch {
	case errors.Is(err, ErrForged):
		a = answer{http.StatusForbidden, outcomeForged, "This approval link is not signed by Foresight's key."}
	case errors.Is(err, ErrExpired):
		a = answer{http.StatusGone, outcomeExpired, "This proposal expired at " + p.Expires.UTC().Format(time.RFC3339) + ". Act from a fresh alert analysis."}
	case err != nil:
		a = answer{http.StatusBadRequest, outcomeMalformed, "Unreadable approval link: " + err.Error()}
	}
	if err != nil {
		s.count(w, endpointPage, a.outcome)
		s.writePage(w, a.status, pageData{Title: "Nothing to approve", Message: a.message, Command: commandOf(p), CorrelationID: p.CorrelationID})
		return
	}
	if c, used, err := s.o.Store.Get(p.ID); err == nil && used {
		s.count(w, endpointPage, outcomeReplayed)
		s.writePage(w, http.StatusGone, pageData{
			Title: "Already decided", Command: p.Action.String(), CorrelationID: p.CorrelationID,
			Message: fmt.Sprintf("Already %s by %s at %s.", pastTense(c.Decision), c.By, c.At.UTC().Format(time.RFC3339)),
		})
		return
	}
	if s.o.IdentityHeader == "" && !s.o.AllowSelfDeclared {
		s.count(w, endpointPage, outcomeUnauthorized)
		s.writePage(w, http.StatusForbidden, pageData{Title: "Nothing to approve here", Message: msgLinksOff, Command: p.Action.String(), CorrelationID: p.CorrelationID})
		return
	}
	d := pageData{
		Title: "Approve a remediation?", Command: p.Action.String(), CorrelationID: p.CorrelationID,
		Expires: p.Expires.UTC().Format(time.RFC3339), Token: token, AskName: s.o.IdentityHeader == "",
		Kind: string(p.Action.Kind), Disruptive: p.Action.Kind.Disruptive(),
	}
	if err := s.precheck.Check(p.Action, nil); err != nil {
		d.Message = "The allowlist refuses this action, so approving it will be refused: " + err.Error()
	}
	s.count(w, endpointPage, outcomeShown)
	s.writePage(w, http.StatusOK, d)
}

func (s *Server) serveSlack(w http.ResponseWriter, req *http.Request) {
	if len(s.o.SlackSigningSecret) == 0 {
		s.count(w, endpointSlack, outcomeDisabled)
		http.Error(w, "Slack interactions are off: start the approver with --slack-signing-secret-file", http.StatusNotFound)
		return
	}
	body, ok := s.readBody(w, req, endpointSlack, s.o.MaxSlackBodyBytes)
	if !ok {
		return
	}
	if err := VerifySlack(s.o.SlackSigningSecret, req.Header, body, s.o.Now()); err != nil {
		outcome := outcomeForged
		if errors.Is(err, ErrSlackStale) {
			outcome = outcomeStale
		}
		s.count(w, endpointSlack, outcome)
		s.logger.WarnContext(req.Context(), "slack request refused", "err", err, "remote", req.RemoteAddr)
		http.Error(w, err.Error(), http.StatusForbidden)
		return
	}
	in, err := ParseInteraction(body)
	if err != nil {
		s.count(w, endpointSlack, outcomeMalformed)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var decision string
	switch in.ActionID {
	case ActionApprove:
		decision = DecisionApprove
	case ActionReject:
		decision = DecisionReject
	default:
		s.count(w, endpointSlack, outcomeMalformed)
		http.Error(w, fmt.Sprintf("unknown action_id %.60q: want %s or %s", in.ActionID, ActionApprove, ActionReject), http.StatusBadRequest)
		return
	}
	if s.seenClick(in, decision, req.Header.Get(HeaderSlackRetryNum)) {
		// Slack redelivers a click it thinks we missed (no 200 within 3
		// s); the first delivery was or is being handled.
		s.count(w, endpointSlack, outcomeRetried)
		w.WriteHeader(http.StatusOK)
		return
	}
	r := request{endpoint: endpointSlack, token: in.Value, decision: decision, identity: in.Identity(), via: "slack", slack: &in}
	if msg := s.slackRefusal(in); msg != "" {
		r.refuse = &answer{http.StatusForbidden, outcomeUnauthorized, msg}
	}
	p, a := s.decide(req.Context(), r)
	s.count(w, endpointSlack, a.outcome)
	if a.outcome != outcomeRejected && in.ResponseURL != "" && s.begin() {
		// Tell the clicker, privately, what became of the click: Slack
		// shows nothing of the answer's body.
		text := a.message
		if c := commandOf(p); c != "" && !strings.Contains(text, c) {
			text += " (" + c + ")"
		}
		go func() {
			defer s.wg.Done()
			s.respond(in.ResponseURL, text, true)
		}()
	}
	// Slack wants 200 for every interaction it delivered (anything else
	// shows the clicker an error, without our message); the outcome is in
	// the header, the metric and the private reply.
	w.WriteHeader(http.StatusOK)
}

// clickMemory is how long a Slack delivery is remembered for its retries:
// Slack retries immediately, after 1 minute and after 5.
const clickMemory = 10 * time.Minute

type clickKey struct{ token, user, decision string }

// seenClick remembers a Slack delivery and reports whether it is a retry
// (X-Slack-Retry-Num >= 1) of a click already handled: one remembered, or,
// after a restart, one whose proposal this user decided the same way.
func (s *Server) seenClick(in Interaction, decision, retryNum string) bool {
	k := clickKey{token: in.Value, user: in.UserID, decision: decision}
	now := s.o.Now()
	s.mu.Lock()
	for old, at := range s.clicks {
		if now.Sub(at) > clickMemory {
			delete(s.clicks, old)
		}
	}
	_, seen := s.clicks[k]
	if !seen {
		s.clicks[k] = now
	}
	s.mu.Unlock()
	if n, err := strconv.Atoi(retryNum); err != nil || n < 1 {
		return false
	}
	if seen {
		return true
	}
	p, err := Verify(s.o.Key, in.Value, now)
	if err != nil {
		return false
	}
	c, used, err := s.o.Store.Get(p.ID)
	return err == nil && used && c.By == in.Identity() && c.Decision == decision
}

// slackRefusal says why a click from in's workspace, channel or user may
// not decide; "" when the allow lists let it.
func (s *Server) slackRefusal(in Interaction) string {
	for _, c := range []struct {
		allowed        []string
		id, what, flag string
	}{
		{s.o.SlackAllowedTeams, in.TeamID, "Slack workspace", "--slack-allowed-teams"},
		{s.o.SlackAllowedChannels, in.ChannelID, "channel", "--slack-allowed-channels"},
		{s.o.SlackAllowedUsers, in.UserID, "Slack user", "--slack-allowed-users"},
	} {
		if len(c.allowed) > 0 && !slices.Contains(c.allowed, c.id) {
			return fmt.Sprintf("This approver takes no decisions from this %s (%q is not in its %s): nothing was done.", c.what, c.id, c.flag)
		}
	}
	return ""
}

// HeaderOutcome carries a request's outcome (the outcome label of
// foresight_approval_requests_total) on every answer of /approve and
// /slack/interactions, for scripts and tests.
const HeaderOutcome = "X-Foresight-Outcome"

// Slack action ids of the buttons foresight enrich renders.
const (
	ActionApprove = "foresight_approve"
	ActionReject  = "foresight_reject"
)

type pageData struct {
	Title, Message, Command, CorrelationID, Expires, Token, Kind string
	AskName, Disruptive                                          bool
}

var page = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="robots" content="noindex">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Foresight: {{.Title}}</title>
<style>body{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem}code{background:#eee;padding:.2rem .4rem}button{font-size:1rem;margin-right:1rem;padding:.4rem 1rem}</style>
</head><body>
<h1>{{.Title}}</h1>
{{if .Message}}<p>{{.Message}}</p>{{end}}
{{if .Command}}<p>Action: <code>{{.Command}}</code></p>{{end}}
{{if .CorrelationID}}<p>Alert: <code>{{.CorrelationID}}</code></p>{{end}}
{{if .Token}}
<p>Expires: {{.Expires}}. Approving runs this once, through the allowlist, a check that the object has not changed since the proposal, and a server-side dry run{{if .Disruptive}}; a {{.Kind}} waits until the cluster is stable{{end}}. Loading this page does nothing.</p>
<form method="post" action="approve">
<input type="hidden" name="token" value="{{.Token}}">
{{if .AskName}}<p><label>Your name (recorded in the audit log): <input name="name" required maxlength="100"></label></p>{{end}}
<button type="submit" name="decision" value="approve">Approve</button>
<button type="submit" name="decision" value="reject">Reject</button>
</form>
{{end}}
</body></html>
`))

func (s *Server) writePage(w http.ResponseWriter, status int, d pageData) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer") // the token is in the URL
	w.Header().Set("X-Frame-Options", "DENY")
	w.WriteHeader(status)
	if err := page.Execute(w, d); err != nil {
		s.logger.Warn("approval page", "err", err)
	}
}
