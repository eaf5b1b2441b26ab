package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/foresight-aiops/foresight/approval"
	"github.com/foresight-aiops/foresight/remediate"
)

func TestApproverHelp(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"approver", "--help"}, nil, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	for _, want := range []string{
		"only Foresight component that writes to the cluster", "pods/eviction", "deployments/scale", "events.events.k8s.io",
		"-remediation-config", "-approval-key-file", "-listen", "-public-url", "-slack-signing-secret-file", "-slack-token-file",
		"-result-webhook", "-identity-header", "-state-dir", "-audit-log", "-kubeconfig", "head -c 32 /dev/urandom",
		"-allow-self-declared-approvers", "-slack-allowed-teams", "-slack-allowed-channels", "-slack-allowed-users",
		"frees\nthe proposal", "refused (403)",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("help lacks %q", want)
		}
	}
}

func approverFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const approverTestConfig = `
allow:
  - action: scale
    resources: [deployments]
    namespaces: [shop]
    minReplicas: 1
    maxReplicas: 5
`

// unreachableKubeconfig points at a port nothing listens on: the approver
// starts without contacting the API server, and an execution fails.
func unreachableKubeconfig(t *testing.T, dir string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return approverFile(t, dir, "kubeconfig", `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "http://`+addr+`"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
`)
}

func TestApproverStartErrors(t *testing.T) {
	dir := t.TempDir()
	cfg := approverFile(t, dir, "remediation.yaml", approverTestConfig)
	short := approverFile(t, dir, "short-key", "too short\n")
	kube := unreachableKubeconfig(t, dir)
	for _, tc := range []struct {
		name     string
		args     []string
		wantCode int
		want     string
	}{
		{"no config", []string{"--approval-key-file", short}, 2, "--remediation-config is required"},
		{"no key flag", []string{"--remediation-config", cfg}, 2, "--approval-key-file is required"},
		{"missing key file", []string{"--remediation-config", cfg, "--approval-key-file", filepath.Join(dir, "nope"), "--kubeconfig", kube}, 1, "head -c 32 /dev/urandom > " + filepath.Join(dir, "nope")},
		{"short key", []string{"--remediation-config", cfg, "--approval-key-file", short, "--kubeconfig", kube}, 1, "shorter than 32 bytes"},
		{"bad config", []string{"--remediation-config", approverFile(t, dir, "bad.yaml", "allow:\n  - action: delete\n"), "--approval-key-file", short}, 1, "unknown action"},
		{"bad webhook", []string{"--remediation-config", cfg, "--approval-key-file", short, "--result-webhook", "ftp://x"}, 2, "want an http(s) URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(context.Background(), append([]string{"approver", "--state-dir", filepath.Join(dir, "state")}, tc.args...), nil, &out, &errb)
			if code != tc.wantCode || !strings.Contains(errb.String(), tc.want) {
				t.Fatalf("exit %d, stderr %q; want exit %d saying %q", code, errb.String(), tc.wantCode, tc.want)
			}
		})
	}
}

// TestApproverServes starts foresight approver (against an API server that
// does not answer), then drives it over HTTP: the page, a refusal, an
// approval whose execution fails and is reported to the result webhook,
// the metrics, and a clean stop.
func TestApproverServes(t *testing.T) {
	dir := t.TempDir()
	key := []byte("0123456789abcdef0123456789abcdef")
	keyFile := approverFile(t, dir, "key", string(key))
	cfg := approverFile(t, dir, "remediation.yaml", approverTestConfig)
	results := make(chan approval.LinkResult, 4)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var lr approval.LinkResult
		if err := json.NewDecoder(r.Body).Decode(&lr); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		results <- lr
	}))
	defer hook.Close()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	audit := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- runApprover(ctx, []string{
			"--remediation-config", cfg, "--approval-key-file", keyFile, "--listen", addr, "--state-dir", filepath.Join(dir, "state"),
			"--kubeconfig", unreachableKubeconfig(t, dir), "--result-webhook", hook.URL, "--allow-self-declared-approvers",
		}, audit, slog.New(slog.DiscardHandler))
	}()
	base := "http://" + addr
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if resp, err := http.Get(base + "/healthz"); err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("approver did not start")
		}
	}
	sign := func(replicas int32) string {
		id, _ := approval.NewID()
		now := time.Now()
		tok, err := approval.Sign(key, approval.Proposal{ID: id, Action: remediate.Action{Kind: remediate.Scale, Resource: remediate.Deployments, Namespace: "shop", Name: "web", Replicas: &replicas}, Issued: now, Expires: now.Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	post := func(tok string) (int, string) {
		resp, err := http.PostForm(base+"/approve", url.Values{"token": {tok}, "decision": {"approve"}, "name": {"alice"}})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	tok := sign(3)
	resp, err := http.Get(base + "/approve?token=" + url.QueryEscape(tok))
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), "kubectl scale deployment/web --replicas=3 -n shop") {
		t.Fatalf("page: %d %s", resp.StatusCode, page)
	}
	if status, body := post(sign(9)); status != http.StatusUnprocessableEntity || !strings.Contains(body, "outside the allowed [1, 5]") {
		t.Fatalf("out of bounds: %d %s", status, body)
	}
	if status, body := post(tok); status != http.StatusAccepted {
		t.Fatalf("approval: %d %s", status, body)
	}
	var lr approval.LinkResult
	select {
	case lr = <-results:
	case <-time.After(60 * time.Second):
		t.Fatal("no result posted to --result-webhook")
	}
	if lr.Approver != "link:alice (self-declared)" || lr.Result == nil || lr.Result.Outcome == remediate.OutcomeExecuted {
		t.Fatalf("result %+v: want a failure or refusal (the API server is unreachable)", lr)
	}
	resp, err = http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`foresight_approval_requests_total{endpoint="link",outcome="accepted"} 1`,
		`foresight_approval_requests_total{endpoint="link",outcome="refused"} 1`,
		`foresight_remediation_actions_total`,
	} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	var events []string
	for _, line := range strings.Split(strings.TrimSpace(audit.String()), "\n") {
		var e remediate.Entry
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("audit line %q: %v", line, err)
		}
		events = append(events, e.Event)
	}
	if len(events) < 3 || events[0] != remediate.EventRefused || events[1] != remediate.EventApproved {
		t.Errorf("audit events %v: want refused, approved, then the executor's outcome", events)
	}
}

func TestEnrichProposalFlags(t *testing.T) {
	dir := t.TempDir()
	cfg := approverFile(t, dir, "remediation.yaml", approverTestConfig)
	key := approverFile(t, dir, "key", "0123456789abcdef0123456789abcdef")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"config without key", []string{"--remediation-config", cfg}, "need both --remediation-config and --approval-key-file"},
		{"key without config", []string{"--approval-key-file", key}, "need both --remediation-config and --approval-key-file"},
		{"approver URL alone", []string{"--approver-url", "https://approver.example.com"}, "--approver-url needs --remediation-config"},
		{"no model", []string{"--remediation-config", cfg, "--approval-key-file", key}, "--remediation-config needs --llm-endpoint"},
		{"no cluster", []string{"--remediation-config", cfg, "--approval-key-file", key, "--llm-endpoint", "http://127.0.0.1:1/v1", "--llm-model", "m", "--no-cluster"}, "needs cluster access"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			args := append([]string{"enrich", "--http-addr", "127.0.0.1:0", "--queue-file", filepath.Join(dir, "q.db")}, tc.args...)
			if code := run(context.Background(), args, nil, &out, &errb); code != 2 || !strings.Contains(errb.String(), tc.want) {
				t.Fatalf("exit %d, stderr %q; want 2 saying %q", code, errb.String(), tc.want)
			}
		})
	}
}

func TestApproverWarnings(t *testing.T) {
	cfg := func(maxWait time.Duration) *remediate.Config {
		c, err := remediate.Parse(strings.NewReader(approverTestConfig + "gate: {maxWait: " + maxWait.String() + "}\n"))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	for _, tc := range []struct {
		name               string
		o                  approverOptions
		maxWait            time.Duration
		slackSecret, token bool
		want               []string
	}{
		{"no identity source", approverOptions{}, 10 * time.Minute, false, false, []string{"link approvals are refused (403)"}},
		{"self-declared names", approverOptions{allowSelfDeclared: true}, 10 * time.Minute, false, false, []string{"anyone holding a link can approve"}},
		{"proxy", approverOptions{identityHdr: "X-Forwarded-Email"}, 10 * time.Minute, false, false, nil},
		{"response_url outlived by the gate", approverOptions{identityHdr: "X-Forwarded-Email"}, 30 * time.Minute, true, false, []string{"which Slack accepts for 30 minutes", "gate.maxWait 30m"}},
		{"bot token", approverOptions{identityHdr: "X-Forwarded-Email"}, 30 * time.Minute, true, true, nil},
		{"short gate", approverOptions{identityHdr: "X-Forwarded-Email"}, 20 * time.Minute, true, false, nil},
		{"no Slack", approverOptions{identityHdr: "X-Forwarded-Email"}, 30 * time.Minute, false, false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := strings.Join(approverWarnings(tc.o, cfg(tc.maxWait), tc.slackSecret, tc.token), "\n")
			if len(tc.want) == 0 && got != "" {
				t.Fatalf("warnings %q, want none", got)
			}
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("warnings %q lack %q", got, w)
				}
			}
		})
	}
}

// TestApproverDefaultsRefuseAnonymousLinks starts foresight approver with
// neither --identity-header nor --allow-self-declared-approvers, and with
// a Slack team allow list: it warns, a link approval is refused with 403,
// and a click from another workspace decides nothing.
func TestApproverDefaultsRefuseAnonymousLinks(t *testing.T) {
	dir := t.TempDir()
	key := []byte("0123456789abcdef0123456789abcdef")
	secret := "8f742231b10e8888abcd99yyyzzz85a5"
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logs, audit := &syncBuffer{}, &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- runApprover(ctx, []string{
			"--remediation-config", approverFile(t, dir, "remediation.yaml", approverTestConfig), "--approval-key-file", approverFile(t, dir, "key", string(key)),
			"--listen", addr, "--state-dir", filepath.Join(dir, "state"), "--kubeconfig", unreachableKubeconfig(t, dir),
			"--slack-signing-secret-file", approverFile(t, dir, "slack", secret), "--slack-allowed-teams", "T0001, T0002",
		}, audit, slog.New(slog.NewTextHandler(logs, nil)))
	}()
	base := "http://" + addr
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if resp, err := http.Get(base + "/healthz"); err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("approver did not start")
		}
	}
	if !strings.Contains(logs.String(), "link approvals are refused (403)") {
		t.Errorf("no startup warning about link approvals:\n%s", logs)
	}
	id, _ := approval.NewID()
	replicas := int32(3)
	tok, err := approval.Sign(key, approval.Proposal{ID: id, Action: remediate.Action{Kind: remediate.Scale, Resource: remediate.Deployments, Namespace: "shop", Name: "web", Replicas: &replicas}, Issued: time.Now(), Expires: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.PostForm(base+"/approve", url.Values{"token": {tok}, "decision": {"approve"}, "name": {"mallory"}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "--allow-self-declared-approvers") {
		t.Fatalf("anonymous link approval: %d %s", resp.StatusCode, body)
	}
	// A click from a workspace outside --slack-allowed-teams.
	payload, _ := json.Marshal(map[string]any{
		"type": "block_actions", "user": map[string]string{"id": "U1", "username": "eve"}, "team": map[string]string{"id": "T0666"},
		"actions": []map[string]string{{"action_id": approval.ActionApprove, "value": tok}},
	})
	form := []byte("payload=" + url.QueryEscape(string(payload)))
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	req, _ := http.NewRequest(http.MethodPost, base+"/slack/interactions", bytes.NewReader(form))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set(approval.HeaderSlackTimestamp, ts)
	req.Header.Set(approval.HeaderSlackSignature, approval.SlackSignature([]byte(secret), ts, form))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get(approval.HeaderOutcome) != "unauthorized" {
		t.Fatalf("click from another workspace: %d %s", resp.StatusCode, resp.Header.Get(approval.HeaderOutcome))
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(audit.String(), `"reason":"unauthorized"`); n != 2 {
		t.Errorf("%d unauthorized refusals audited, want 2:\n%s", n, audit)
	}
}
