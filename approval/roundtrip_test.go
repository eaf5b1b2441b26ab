package approval_test

import (
	"context"
	"encoding/json"
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

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/foresight-aiops/foresight/approval"
	"github.com/foresight-aiops/foresight/enrich"
	"github.com/foresight-aiops/foresight/enrich/suggest"
	"github.com/foresight-aiops/foresight/remediate"
)

type recordingExecutor struct {
	mu    sync.Mutex
	calls []remediate.Approval
}

func (r *recordingExecutor) Execute(_ context.Context, ap remediate.Approval) remediate.Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, ap)
	return remediate.Result{Outcome: remediate.OutcomeExecuted, Message: "scaled"}
}

// TestEnrichToApproverRoundTrip joins the two halves over HTTP: enrich's
// proposer and Slack sink post an analysis with buttons to a Slack that
// speaks chat.postMessage; the Approve button's value, sent back as Slack
// sends a block_actions click (form-encoded, v0-signed), reaches the
// approver, which executes the proposed action once, with the live state
// enrich observed, and posts the result in the alert's thread.
func TestEnrichToApproverRoundTrip(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	secret := "slack-signing-secret"
	cfg, err := remediate.Parse(strings.NewReader("allow:\n  - action: scale\n    namespaces: [shop]\n    minReplicas: 1\n    maxReplicas: 6\n"))
	if err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	var posts []map[string]any
	slack := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m map[string]any
		if r.URL.Path != "/api/chat.postMessage" || r.Header.Get("Authorization") != "Bearer xoxb-rt" || json.NewDecoder(r.Body).Decode(&m) != nil {
			_, _ = io.WriteString(w, `{"ok":false,"error":"invalid_request"}`)
			return
		}
		mu.Lock()
		posts = append(posts, m)
		ts := "1732450000.00" + strconv.Itoa(len(posts))
		mu.Unlock()
		_ = json.NewEncoder(w).Encode(map[string]any{"ok": true, "channel": m["channel"], "ts": ts})
	}))
	defer slack.Close()

	// enrich: the proposal, from a live Deployment at 2 replicas.
	two := int32(2)
	client := fake.NewClientset(&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop", UID: "uid-web"}, Spec: appsv1.DeploymentSpec{Replicas: &two}})
	p, err := enrich.NewProposer(client, enrich.ProposerOptions{Config: cfg, Key: key}, nil)
	if err != nil {
		t.Fatal(err)
	}
	an := enrich.Analysis{RootCause: "saturated", Commands: []enrich.CheckedCommand{{Command: "kubectl scale deployment/web --replicas=4 -n shop", Verdict: suggest.NeedsHuman}}}
	p.Propose(context.Background(), "corr-rt", "shop", &an)
	sink, err := enrich.NewSlackSink(enrich.SlackOptions{Token: "xoxb-rt", Channel: "C42", APIURL: slack.URL + "/api"})
	if err != nil {
		t.Fatal(err)
	}
	alert := enrich.Alert{Status: enrich.StatusFiring, Labels: map[string]string{"alertname": "Saturated", "namespace": "shop"}, StartsAt: time.Now()}
	if err := sink.Send(context.Background(), enrich.Notification{Kind: enrich.KindAlert, CorrelationID: "corr-rt", Alert: alert}); err != nil {
		t.Fatal(err)
	}
	if err := sink.Send(context.Background(), enrich.Notification{Kind: enrich.KindAnalysis, CorrelationID: "corr-rt", Alert: alert, Analysis: &an}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	analysis := posts[1]
	mu.Unlock()
	var value string
	blocks, _ := analysis["blocks"].([]any)
	for _, b := range blocks {
		bm := b.(map[string]any)
		if bm["type"] != "actions" {
			continue
		}
		for _, e := range bm["elements"].([]any) {
			if em := e.(map[string]any); em["action_id"] == approval.ActionApprove {
				value = em["value"].(string)
			}
		}
	}
	if value == "" {
		t.Fatalf("no Approve button in %v", analysis)
	}

	// approver: the click.
	store, err := approval.OpenStore(filepath.Join(t.TempDir(), "approvals.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	exec := &recordingExecutor{}
	srv, err := approval.NewServer(approval.Options{Key: key, Config: cfg, Executor: exec, Store: store, SlackSigningSecret: []byte(secret), SlackToken: "xoxb-rt", SlackAPIURL: slack.URL + "/api"})
	if err != nil {
		t.Fatal(err)
	}
	approver := httptest.NewServer(srv.Handler())
	defer approver.Close()
	payload, _ := json.Marshal(map[string]any{
		"type": "block_actions", "user": map[string]any{"id": "U7", "username": "carol"},
		"actions": []map[string]any{{"action_id": approval.ActionApprove, "value": value}},
		"channel": map[string]any{"id": "C42"},
		"message": map[string]any{"ts": "1732450000.002", "thread_ts": analysis["thread_ts"]},
	})
	body := "payload=" + url.QueryEscape(string(payload))
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	req, _ := http.NewRequest(http.MethodPost, approver.URL+"/slack/interactions", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set(approval.HeaderSlackTimestamp, ts)
	req.Header.Set(approval.HeaderSlackSignature, approval.SlackSignature([]byte(secret), ts, []byte(body)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get(approval.HeaderOutcome) != "accepted" {
		t.Fatalf("click: %d %s", resp.StatusCode, resp.Header.Get(approval.HeaderOutcome))
	}
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	exec.mu.Lock()
	defer exec.mu.Unlock()
	if len(exec.calls) != 1 {
		t.Fatalf("%d executions", len(exec.calls))
	}
	got := exec.calls[0]
	if got.Action.String() != "kubectl scale deployment/web --replicas=4 -n shop" || got.Action.Observed.UID != "uid-web" || *got.Action.Observed.Replicas != 2 ||
		got.CorrelationID != "corr-rt" || got.Approver != "slack:U7 (carol)" {
		t.Fatalf("executed %+v", got)
	}
	mu.Lock()
	defer mu.Unlock()
	last := posts[len(posts)-1]
	if len(posts) != 3 || last["thread_ts"] != posts[1]["thread_ts"] || !strings.Contains(last["text"].(string), "Executed `kubectl scale deployment/web --replicas=4 -n shop`") {
		t.Fatalf("result post %v (of %d)", last, len(posts))
	}
}
