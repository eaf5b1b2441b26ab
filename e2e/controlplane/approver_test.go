package controlplane

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/foresight-aiops/foresight/approval"
	"github.com/foresight-aiops/foresight/e2e/cluster"
	"github.com/foresight-aiops/foresight/remediate"
)

// TestApprover runs `foresight approver` as built from the tree, outside
// the cluster, with the chart's own ServiceAccount, RBAC and remediation
// ConfigMap (charts/foresight with testdata/approver-values.yaml), and
// approves through its two real front doors: a signed link (GET shows a
// page, POST approves) and a Slack interaction signed with the signing
// secret. An approved rollout undo restores the previous Deployment
// template; a Slack-approved cordon marks a hand-made node unschedulable
// and a second, link-approved cordon waits for the stability gate;
// a third cordon is refused by the hourly budget and frees its proposal,
// so that the same link is accepted again;
// forged, expired, replayed and out-of-allowlist approvals, and Slack
// requests with a bad or stale signature, are refused and change nothing;
// an approver started without an identity source (no --identity-header,
// no --allow-self-declared-approvers) refuses link approvals;
// the results come back to the result webhook and to Slack's
// response_url; SubjectAccessReviews show that the enrichment's
// read-only ServiceAccount can perform none of the actions while the
// approver's can perform exactly the allowlisted ones. About a minute.
func TestApprover(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	c, e := startStandalone(t, "approver")
	admin := c.Client
	bin := buildForesight(t, dir)

	// The chart's approver objects that matter outside a pod: its
	// ServiceAccount, RBAC and remediation config.
	for _, ns := range []string{"foresight", "shop", "other", "prod"} {
		if err := c.Apply(ctx, "apiVersion: v1\nkind: Namespace\nmetadata: {name: "+ns+"}\n"); err != nil {
			t.Fatal(err)
		}
	}
	values := filepath.Join(repoRoot(), "e2e", "controlplane", "testdata", "approver-values.yaml")
	objs := renderChart(t, ctx, []string{"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "ConfigMap"}, "--values", values)
	if err := c.Apply(ctx, objs); err != nil {
		t.Fatal(err)
	}
	cm, err := admin.CoreV1().ConfigMaps("foresight").Get(ctx, "foresight-approver", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	config := writeFile(t, filepath.Join(dir, "remediation.yaml"), cm.Data["remediation.yaml"])
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	keyFile := writeFile(t, filepath.Join(dir, "approval.key"), string(key))
	slackSecret := "8f742231b10e8888abcd99yyyzzz85a5"
	slackFile := writeFile(t, filepath.Join(dir, "slack-signing-secret"), slackSecret)
	kubeconfig := serviceAccountKubeconfig(t, ctx, e, "foresight", "foresight-approver", filepath.Join(dir, "approver.kubeconfig"))

	// The enrichment's read-only ServiceAccount, as TestControlPlane's
	// enrichment scenario has it.
	if err := c.Apply(ctx, enrichReadOnly); err != nil {
		t.Fatal(err)
	}

	// Where results come back: the result webhook (links) and Slack's
	// response_url (clicks).
	posts := &postbacks{}
	hook := httptest.NewServer(posts)
	t.Cleanup(hook.Close)

	// Hand-made nodes kept Ready; a, b and c may be cordoned, x may not.
	handMadeNodes(t, ctx, admin, []string{"node-a", "node-b", "node-c"}, "node-x")

	// A Deployment at revision 2 whose undo the approver will be asked
	// for, and its twin in a namespace the allowlist does not name. Zero
	// replicas: without a scheduler their pods would stay Pending and
	// keep the stability gate shut.
	deployment := func(ns, release string) string {
		return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: %s}
spec:
  replicas: 0
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: app, image: "registry.k8s.io/pause:3.9", env: [{name: RELEASE, value: %q}]}]
`, ns, release)
	}
	for _, ns := range []string{"shop", "other"} {
		if err := c.Apply(ctx, deployment(ns, "1")); err != nil {
			t.Fatal(err)
		}
	}
	rev1 := waitRevision(t, ctx, admin, "shop", "web", 1)
	waitRevision(t, ctx, admin, "other", "web", 1)
	for _, ns := range []string{"shop", "other"} {
		if err := c.Apply(ctx, deployment(ns, "2")); err != nil {
			t.Fatal(err)
		}
	}
	waitRevision(t, ctx, admin, "shop", "web", 2)
	waitRevision(t, ctx, admin, "other", "web", 2)

	addr := freeAddr(t)
	audit := filepath.Join(dir, "audit.jsonl")
	p, err := c.StartProcess("foresight-approver", bin, []string{
		"approver", "--remediation-config=" + config, "--approval-key-file=" + keyFile,
		"--listen=" + addr, "--slack-signing-secret-file=" + slackFile, "--result-webhook=" + hook.URL + "/results",
		"--state-dir=" + filepath.Join(dir, "state"), "--audit-log=" + audit, "--kubeconfig=" + kubeconfig,
		"--allow-self-declared-approvers", // the links below name their approvers by a typed name
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + addr
	waitHealthy(t, base, p)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("approver log:\n%s", p.LogTail())
		}
	})

	sign := func(k []byte, a remediate.Action, expires time.Time) (string, string) {
		t.Helper()
		issued := time.Now()
		if !expires.After(issued) {
			issued = expires.Add(-time.Hour)
		}
		id, err := approval.NewID()
		if err != nil {
			t.Fatal(err)
		}
		tok, err := approval.Sign(k, approval.Proposal{ID: id, CorrelationID: "e2e-alert", Action: a, Issued: issued, Expires: expires})
		if err != nil {
			t.Fatal(err)
		}
		return id, tok
	}
	link := func(t *testing.T, token, decision, name string) (int, string, string) {
		t.Helper()
		return postLink(t, base, token, decision, name)
	}
	slack := func(t *testing.T, token, user, secret string, at time.Time) (int, string) {
		t.Helper()
		payload, _ := json.Marshal(map[string]any{
			"type": "block_actions", "user": map[string]string{"id": "U0E2E", "username": user},
			"actions":      []map[string]string{{"action_id": "foresight_approve", "value": token, "type": "button"}},
			"response_url": hook.URL + "/slack-response", "channel": map[string]string{"id": "C0E2E"},
			"message": map[string]string{"ts": "1700000000.000100"},
		})
		body := []byte("payload=" + url.QueryEscape(string(payload)))
		ts := strconv.FormatInt(at.Unix(), 10)
		mac := hmac.New(sha256.New, []byte(secret))
		fmt.Fprintf(mac, "v0:%s:%s", ts, body)
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/slack/interactions", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Slack-Request-Timestamp", ts)
		req.Header.Set("X-Slack-Signature", "v0="+hex.EncodeToString(mac.Sum(nil)))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, resp.Header.Get(approval.HeaderOutcome)
	}
	expect := func(t *testing.T, what string, code int, outcome string, wantCode int, wantOutcome string) {
		t.Helper()
		if code != wantCode || outcome != wantOutcome {
			t.Errorf("%s: %d %s, want %d %s", what, code, outcome, wantCode, wantOutcome)
		}
	}

	shopWeb := getDeployment(t, ctx, admin, "shop", "web")
	undo := remediate.Action{
		Kind: remediate.RolloutUndo, Resource: remediate.Deployments, Namespace: "shop", Name: "web", ToRevision: 1,
		Observed: remediate.Observed{UID: string(shopWeb.UID), Revision: 2, TemplateHash: rev1.Labels["pod-template-hash"]},
	}

	t.Run("RefusedApprovalsChangeNothing", func(t *testing.T) {
		before := getDeployment(t, ctx, admin, "shop", "web").Generation
		otherBefore := getDeployment(t, ctx, admin, "other", "web").Generation
		otherKey := make([]byte, 32)
		_, _ = rand.Read(otherKey)
		_, forged := sign(otherKey, undo, time.Now().Add(time.Hour))
		code, outcome, _ := link(t, forged, "approve", "mallory")
		expect(t, "forged link", code, outcome, http.StatusForbidden, "forged")
		_, tampered := sign(key, undo, time.Now().Add(time.Hour))
		dot := strings.LastIndexByte(tampered, '.')
		tampered = tampered[:dot-2] + "xx" + tampered[dot:]
		code, outcome, _ = link(t, tampered, "approve", "mallory")
		if code != http.StatusForbidden && code != http.StatusBadRequest {
			t.Errorf("tampered link: %d %s, want 403 or 400", code, outcome)
		}
		_, expired := sign(key, undo, time.Now().Add(-time.Minute))
		code, outcome, _ = link(t, expired, "approve", "alice")
		expect(t, "expired link", code, outcome, http.StatusGone, "expired")
		elsewhere := undo
		elsewhere.Namespace = "other"
		_, outside := sign(key, elsewhere, time.Now().Add(time.Hour))
		code, outcome, body := link(t, outside, "approve", "alice")
		expect(t, "out-of-allowlist link", code, outcome, http.StatusUnprocessableEntity, "refused")
		if !strings.Contains(body, "allowlist") {
			t.Errorf("out-of-allowlist answer does not say why:\n%s", body)
		}
		scale := remediate.Action{Kind: remediate.Scale, Resource: remediate.Deployments, Namespace: "shop", Name: "web", Replicas: new(int32(3))}
		_, notAllowed := sign(key, scale, time.Now().Add(time.Hour))
		code, outcome = slack(t, notAllowed, "alice", slackSecret, time.Now())
		expect(t, "out-of-allowlist Slack click", code, outcome, http.StatusOK, "refused")
		_, good := sign(key, undo, time.Now().Add(time.Hour))
		code, outcome = slack(t, good, "mallory", "not-the-signing-secret", time.Now())
		expect(t, "Slack click with a forged signature", code, outcome, http.StatusForbidden, "forged")
		code, outcome = slack(t, good, "mallory", slackSecret, time.Now().Add(-6*time.Minute))
		if code != http.StatusForbidden {
			t.Errorf("Slack click signed 6 minutes ago: %d %s, want 403", code, outcome)
		}
		// The page of a valid link never executes.
		resp, err := http.Get(base + "/approve?token=" + url.QueryEscape(good))
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), "rollout undo") {
			t.Errorf("GET of a valid link: %d\n%s", resp.StatusCode, page)
		}
		time.Sleep(2 * time.Second)
		if g := getDeployment(t, ctx, admin, "shop", "web").Generation; g != before {
			t.Errorf("shop/web changed (generation %d -> %d) after refused approvals", before, g)
		}
		if g := getDeployment(t, ctx, admin, "other", "web").Generation; g != otherBefore {
			t.Errorf("other/web changed (generation %d -> %d) after an out-of-allowlist approval", otherBefore, g)
		}
	})

	t.Run("LinkApprovedUndoThenReplay", func(t *testing.T) {
		id, tok := sign(key, undo, time.Now().Add(time.Hour))
		code, outcome, _ := link(t, tok, "approve", "alice")
		expect(t, "approved link", code, outcome, http.StatusAccepted, "accepted")
		var d *appsv1.Deployment
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
			d = getDeployment(t, ctx, admin, "shop", "web")
			if equality.Semantic.DeepEqual(d.Spec.Template.Spec, rev1.Spec.Template.Spec) {
				break
			}
		}
		if !equality.Semantic.DeepEqual(d.Spec.Template.Spec, rev1.Spec.Template.Spec) {
			t.Fatalf("the template was not restored to revision 1's:\n%v", d.Spec.Template.Spec.Containers)
		}
		gen := d.Generation
		// Approving the same link again executes nothing, and says who
		// approved it first.
		code, outcome, body := link(t, tok, "approve", "bob")
		expect(t, "replayed link", code, outcome, http.StatusGone, "replayed")
		if !strings.Contains(body, "alice") {
			t.Errorf("the replay's answer does not name the first approver:\n%s", body)
		}
		time.Sleep(time.Second)
		if g := getDeployment(t, ctx, admin, "shop", "web").Generation; g != gen {
			t.Errorf("the replay changed shop/web (generation %d -> %d)", gen, g)
		}
		r := posts.wait(t, "/results", id)
		if !strings.Contains(r, "executed") || !strings.Contains(r, "alice") {
			t.Errorf("result posted back: %s; want executed by alice", r)
		}
		// bob's replay is audited as refused under the same proposal.
		checkAudit(t, audit, id, []string{remediate.EventApproved, remediate.EventExecuted, remediate.EventRefused}, "alice")
	})

	t.Run("SlackCordonThenGate", func(t *testing.T) {
		cordon := func(n string) remediate.Action {
			return remediate.Action{Kind: remediate.Cordon, Resource: remediate.Nodes, Name: n}
		}
		idA, tokA := sign(key, cordon("node-a"), time.Now().Add(time.Hour))
		code, outcome := slack(t, tokA, "alice", slackSecret, time.Now())
		expect(t, "Slack-approved cordon", code, outcome, http.StatusOK, "accepted")
		waitUnschedulable(t, ctx, e, "node-a", 20*time.Second)
		cordonedA := time.Now()
		if r := posts.wait(t, "/slack-response", "node-a"); !strings.Contains(r, "node-a") {
			t.Errorf("Slack response: %s", r)
		}
		checkAudit(t, audit, idA, []string{remediate.EventApproved, remediate.EventExecuted}, "slack:U0E2E (alice)")

		// The second cordon waits until the cluster has been stable for
		// the settle period (10 s) after the first.
		idB, tokB := sign(key, cordon("node-b"), time.Now().Add(time.Hour))
		code, outcome, _ = link(t, tokB, "approve", "bob")
		expect(t, "link-approved second cordon", code, outcome, http.StatusAccepted, "accepted")
		time.Sleep(3 * time.Second)
		if getNode(t, ctx, admin, "node-b").Spec.Unschedulable && time.Since(cordonedA) < 10*time.Second {
			t.Errorf("node-b cordoned %s after node-a, inside the 10 s settle period", time.Since(cordonedA).Round(time.Second))
		}
		waitUnschedulable(t, ctx, e, "node-b", 60*time.Second)
		if gap := time.Since(cordonedA); gap < 10*time.Second {
			t.Errorf("node-b cordoned %s after node-a: the gate did not hold it for the settle period", gap.Round(time.Second))
		} else {
			t.Logf("node-b cordoned %s after node-a (settle 10 s)", gap.Round(time.Second))
		}
		checkAudit(t, audit, idB, []string{remediate.EventApproved, remediate.EventWaiting, remediate.EventExecuted}, "bob")
		if getNode(t, ctx, admin, "node-x").Spec.Unschedulable {
			t.Error("node-x, outside the allowlist, is cordoned")
		}
	})

	t.Run("BudgetRefusalReleasesTheProposal", func(t *testing.T) {
		// node-a and node-b spent the hour's cordon budget (2): a third
		// cordon is refused before it writes anything, and its proposal
		// is freed, so that the same link is accepted again.
		id, tok := sign(key, remediate.Action{Kind: remediate.Cordon, Resource: remediate.Nodes, Name: "node-c"}, time.Now().Add(time.Hour))
		code, outcome, _ := link(t, tok, "approve", "carol")
		expect(t, "third cordon", code, outcome, http.StatusAccepted, "accepted")
		r := posts.wait(t, "/results", id)
		if !strings.Contains(r, remediate.ReasonBudget) || !strings.Contains(r, "open again") {
			t.Errorf("result posted back: %s; want a budget refusal that leaves the proposal open", r)
		}
		checkAudit(t, audit, id, []string{remediate.EventApproved, remediate.EventRefused, approval.EventReleased}, "carol")
		code, outcome, body := link(t, tok, "approve", "carol")
		expect(t, "the same link again", code, outcome, http.StatusAccepted, "accepted")
		if code != http.StatusAccepted {
			t.Logf("answer: %s", body)
		}
		checkAudit(t, audit, id, []string{
			remediate.EventApproved, remediate.EventRefused, approval.EventReleased,
			remediate.EventApproved, remediate.EventRefused, approval.EventReleased,
		}, "carol")
		if getNode(t, ctx, admin, "node-c").Spec.Unschedulable {
			t.Error("node-c is cordoned beyond the hourly budget")
		}
	})

	t.Run("LinksOffWithoutIdentitySource", func(t *testing.T) {
		// The same approver without --allow-self-declared-approvers or
		// --identity-header (its own port and store).
		addr2 := freeAddr(t)
		p2, err := c.StartProcess("foresight-approver-strict", bin, []string{
			"approver", "--remediation-config=" + config, "--approval-key-file=" + keyFile, "--listen=" + addr2,
			"--state-dir=" + filepath.Join(dir, "state-strict"), "--audit-log=" + filepath.Join(dir, "audit-strict.jsonl"), "--kubeconfig=" + kubeconfig,
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p2.Kill)
		base2 := "http://" + addr2
		waitHealthy(t, base2, p2)
		if !strings.Contains(p2.Log(), "link approvals are refused (403)") {
			t.Errorf("no startup warning about link approvals:\n%s", p2.LogTail())
		}
		_, tok := sign(key, undo, time.Now().Add(time.Hour))
		gen := getDeployment(t, ctx, admin, "shop", "web").Generation
		code, outcome, body := postLink(t, base2, tok, "approve", "mallory")
		expect(t, "link approval without an identity source", code, outcome, http.StatusForbidden, "unauthorized")
		if !strings.Contains(body, "--allow-self-declared-approvers") || !strings.Contains(body, "--identity-header") {
			t.Errorf("the refusal does not say how to enable link approvals:\n%s", body)
		}
		time.Sleep(time.Second)
		if g := getDeployment(t, ctx, admin, "shop", "web").Generation; g != gen {
			t.Errorf("a refused link approval changed shop/web (generation %d -> %d)", gen, g)
		}
	})

	t.Run("SubjectAccessReviews", func(t *testing.T) {
		type access struct{ ns, group, resource, sub, verb string }
		actions := []access{
			{"shop", "apps", "deployments", "", "patch"},
			{"shop", "apps", "deployments", "", "update"},
			{"shop", "apps", "deployments", "scale", "update"},
			{"shop", "apps", "deployments", "scale", "patch"},
			{"shop", "apps", "statefulsets", "", "patch"},
			{"shop", "apps", "daemonsets", "", "patch"},
			{"", "", "nodes", "", "patch"},
			{"", "", "nodes", "", "update"},
			{"shop", "", "pods", "eviction", "create"},
			{"shop", "", "pods", "", "delete"},
		}
		can := func(t *testing.T, user string, a access) bool {
			t.Helper()
			r, err := admin.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
				User:   user,
				Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + strings.Split(user, ":")[2], "system:authenticated"},
				ResourceAttributes: &authorizationv1.ResourceAttributes{
					Namespace: a.ns, Group: a.group, Resource: a.resource, Subresource: a.sub, Verb: a.verb,
				},
			}}, metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			return r.Status.Allowed
		}
		enrich := "system:serviceaccount:prod:foresight-enrich"
		for _, a := range actions {
			if can(t, enrich, a) {
				t.Errorf("the enrichment's ServiceAccount may %s %s/%s in %q", a.verb, a.resource, a.sub, a.ns)
			}
		}
		// The approver may do exactly what its allowlist names (undo in
		// shop, cordon nodes), and nothing else of the above.
		approver := "system:serviceaccount:foresight:foresight-approver"
		allowed := map[access]bool{
			{"shop", "apps", "deployments", "", "patch"}: true,
			{"", "", "nodes", "", "patch"}:               true,
		}
		for _, a := range actions {
			if got := can(t, approver, a); got != allowed[a] {
				t.Errorf("the approver's ServiceAccount may %s %s/%s in %q: %v, want %v", a.verb, a.resource, a.sub, a.ns, got, allowed[a])
			}
		}
		if can(t, approver, access{"other", "apps", "deployments", "", "patch"}) {
			t.Error("the approver may patch Deployments in a namespace its allowlist does not name")
		}
	})
}

// postbacks records what the approver posts back (the result webhook and
// Slack's response_url), by path.
type postbacks struct {
	mu   sync.Mutex
	seen map[string][]string
}

func (p *postbacks) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	p.mu.Lock()
	if p.seen == nil {
		p.seen = map[string][]string{}
	}
	p.seen[r.URL.Path] = append(p.seen[r.URL.Path], string(body))
	p.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

// wait returns the first post to path that contains substr.
func (p *postbacks) wait(t *testing.T, path, substr string) string {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		p.mu.Lock()
		for _, b := range p.seen[path] {
			if strings.Contains(b, substr) {
				p.mu.Unlock()
				return b
			}
		}
		p.mu.Unlock()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	t.Fatalf("nothing posted to %s mentions %q; got %q", path, substr, p.seen[path])
	return ""
}

// checkAudit waits until the audit log holds exactly the events of a
// proposal (in any order: a refused replay may be written before the
// execution it was refused for), with the approver named.
func checkAudit(t *testing.T, path, proposal string, events []string, actor string) {
	t.Helper()
	var got []string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		got = got[:0]
		named := false
		for line := range strings.SplitSeq(strings.TrimSpace(string(b)), "\n") {
			var e remediate.Entry
			if json.Unmarshal([]byte(line), &e) != nil || e.ProposalID != proposal {
				continue
			}
			got = append(got, e.Event)
			named = named || e.Actor == actor || strings.Contains(e.Actor, actor)
		}
		if slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(events))) && named {
			return
		}
	}
	t.Errorf("audit of %s: events %v, want %v with actor %q", proposal, got, events, actor)
}

func waitUnschedulable(t *testing.T, ctx context.Context, e *env, node string, within time.Duration) {
	t.Helper()
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		if getNode(t, ctx, e.c.Client, node).Spec.Unschedulable {
			return
		}
	}
	t.Fatalf("%s not cordoned within %s", node, within)
}

func postLink(t *testing.T, base, token, decision, name string) (int, string, string) {
	t.Helper()
	resp, err := http.PostForm(base+"/approve", url.Values{"token": {token}, "decision": {decision}, "name": {name}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get(approval.HeaderOutcome), string(body)
}

func waitHealthy(t *testing.T, base string, p *cluster.Process) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if resp, err := http.Get(base + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) || !p.Running() {
			t.Fatalf("foresight approver not healthy:\n%s", p.LogTail())
		}
	}
}
