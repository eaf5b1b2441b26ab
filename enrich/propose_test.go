package enrich

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/foresight-aiops/foresight/approval"
	"github.com/foresight-aiops/foresight/enrich/suggest"
	"github.com/foresight-aiops/foresight/remediate"
)

var proposalKey = []byte("0123456789abcdef0123456789abcdef")

func TestActionFor(t *testing.T) {
	r := func(n int32) *int32 { return &n }
	for _, tc := range []struct {
		line    string
		want    remediate.Action
		wantWhy string
	}{
		{"kubectl rollout restart deployment/web -n shop", remediate.Action{Kind: remediate.RolloutRestart, Resource: remediate.Deployments, Namespace: "shop", Name: "web"}, ""},
		{"kubectl rollout restart sts db", remediate.Action{Kind: remediate.RolloutRestart, Resource: remediate.StatefulSets, Namespace: "alertns", Name: "db"}, ""},
		{"kubectl -n shop rollout restart daemonset.apps/agent", remediate.Action{Kind: remediate.RolloutRestart, Resource: remediate.DaemonSets, Namespace: "shop", Name: "agent"}, ""},
		{"kubectl rollout undo deployment/web -n shop", remediate.Action{Kind: remediate.RolloutUndo, Resource: remediate.Deployments, Namespace: "shop", Name: "web"}, ""},
		{"kubectl rollout undo deployment/web -n shop --to-revision=2", remediate.Action{Kind: remediate.RolloutUndo, Resource: remediate.Deployments, Namespace: "shop", Name: "web", ToRevision: 2}, ""},
		{"kubectl rollout undo deploy web --to-revision 3 --namespace shop", remediate.Action{Kind: remediate.RolloutUndo, Resource: remediate.Deployments, Namespace: "shop", Name: "web", ToRevision: 3}, ""},
		{"kubectl scale deployment/web --replicas=4 -n shop", remediate.Action{Kind: remediate.Scale, Resource: remediate.Deployments, Namespace: "shop", Name: "web", Replicas: r(4)}, ""},
		{"kubectl scale statefulset db --replicas 0", remediate.Action{Kind: remediate.Scale, Resource: remediate.StatefulSets, Namespace: "alertns", Name: "db", Replicas: r(0)}, ""},
		{"kubectl cordon node-1", remediate.Action{Kind: remediate.Cordon, Resource: remediate.Nodes, Name: "node-1"}, ""},
		{"kubectl uncordon node-1", remediate.Action{Kind: remediate.Uncordon, Resource: remediate.Nodes, Name: "node-1"}, ""},
		{"kubectl drain node-1 --ignore-daemonsets", remediate.Action{}, "kubectl drain is not an allowlisted action"},
		{"kubectl delete pod web-1 -n shop", remediate.Action{}, "kubectl delete pod is not an eviction"},
		{"kubectl delete deployment web -n shop", remediate.Action{}, "never offered"},
		{"kubectl rollout undo daemonset/agent -n shop", remediate.Action{}, "cannot target"},
		{"kubectl rollout undo deployment/web --to-revision=x -n shop", remediate.Action{}, "not a revision number"},
		{"kubectl rollout pause deployment/web -n shop", remediate.Action{}, "not one of the actions"},
		{"kubectl scale deployment/web -n shop", remediate.Action{}, "without a valid --replicas"},
		{"kubectl scale deployment/web --replicas=-1 -n shop", remediate.Action{}, "without a valid --replicas"},
		{"kubectl scale deployment/web deployment/api --replicas=2 -n shop", remediate.Action{}, "exactly one object"},
		{"kubectl scale deployment -l app=web --replicas=2 -n shop", remediate.Action{}, "uses -l"},
		{"kubectl rollout restart deployment/web -n shop --context prod", remediate.Action{}, "uses --context"},
		{"kubectl cordon node-1 node-2", remediate.Action{}, "exactly one node"},
		{"kubectl set image deployment/web web=nginx -n shop", remediate.Action{}, "not one of the actions"},
		{"kubectl rollout restart deployment/Web_1 -n shop", remediate.Action{}, "object name"},
	} {
		t.Run(tc.line, func(t *testing.T) {
			got, why := ActionFor(tc.line, "alertns")
			if tc.wantWhy != "" {
				if !strings.Contains(why, tc.wantWhy) {
					t.Fatalf("why = %q, want it to say %q", why, tc.wantWhy)
				}
				return
			}
			if why != "" {
				t.Fatalf("not mapped: %s", why)
			}
			gj, _ := json.Marshal(got)
			wj, _ := json.Marshal(tc.want)
			if string(gj) != string(wj) {
				t.Fatalf("ActionFor:\n got %s\nwant %s", gj, wj)
			}
		})
	}
	t.Run("no namespace anywhere", func(t *testing.T) {
		if _, why := ActionFor("kubectl rollout restart deployment/web", ""); !strings.Contains(why, "no namespace") {
			t.Fatalf("why = %q", why)
		}
	})
}

// proposalCluster: Deployment shop/web at revision 4 with ReplicaSets at
// revisions 2, 3 and 4 (and a foreign ReplicaSet matching its selector),
// Deployment shop/other without the part-of label, a worker node and a
// control-plane node, and a cordoned node.
func proposalCluster() *fake.Clientset {
	replicas := int32(2)
	sel := &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
	web := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop", UID: "uid-web", Labels: map[string]string{"app.kubernetes.io/part-of": "shop"}, Annotations: map[string]string{"deployment.kubernetes.io/revision": "4"}},
		Spec:       appsv1.DeploymentSpec{Replicas: &replicas, Selector: sel},
	}
	objs := []runtime.Object{
		web,
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "other", Namespace: "shop", UID: "uid-other", Annotations: map[string]string{"deployment.kubernetes.io/revision": "2"}}, Spec: appsv1.DeploymentSpec{Replicas: &replicas, Selector: sel}},
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "payments", UID: "uid-pay", Labels: map[string]string{"app.kubernetes.io/part-of": "shop"}, Annotations: map[string]string{"deployment.kubernetes.io/revision": "2"}}, Spec: appsv1.DeploymentSpec{Replicas: &replicas, Selector: sel}},
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "worker-1", UID: "uid-w1", Labels: map[string]string{"node-role.kubernetes.io/worker": ""}}},
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "cp-1", UID: "uid-cp1", Labels: map[string]string{"node-role.kubernetes.io/control-plane": ""}}},
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "worker-2", UID: "uid-w2", Labels: map[string]string{"node-role.kubernetes.io/worker": ""}}, Spec: corev1.NodeSpec{Unschedulable: true}},
	}
	owner := []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: "web", UID: "uid-web", Controller: ptrTo(true)}}
	for rev, hash := range map[string]string{"2": "hash2", "3": "hash3", "4": "hash4"} {
		objs = append(objs, &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{
			Name: "web-" + hash, Namespace: "shop", OwnerReferences: owner,
			Labels: map[string]string{"app": "web", "pod-template-hash": hash}, Annotations: map[string]string{"deployment.kubernetes.io/revision": rev},
		}})
	}
	objs = append(objs, &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{
		Name: "impostor", Namespace: "shop", Labels: map[string]string{"app": "web", "pod-template-hash": "evil"}, Annotations: map[string]string{"deployment.kubernetes.io/revision": "3"},
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: "other", UID: types.UID("uid-other"), Controller: ptrTo(true)}},
	}})
	return fake.NewClientset(objs...)
}

func ptrTo[T any](v T) *T { return &v }

func newTestProposer(t *testing.T, client *fake.Clientset, logs *bytes.Buffer) *Proposer {
	t.Helper()
	f, err := os.Open("testdata/remediation.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cfg, err := remediate.Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewProposer(client, ProposerOptions{
		Config: cfg, Key: proposalKey, ApproverURL: "https://approver.example.com/", TTL: 30 * time.Minute, Now: func() time.Time { return t0 },
	}, slog.New(slog.NewJSONHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestProposer(t *testing.T) {
	type want struct {
		command  string
		observed remediate.Observed
	}
	two := int32(2)
	for _, tc := range []struct {
		line       string
		verdict    string
		want       *want  // a proposal
		wantNote   string // or a note why not
		wantResult string // foresight_enrich_proposals_total's label
	}{
		{
			"kubectl rollout undo deployment/web -n shop", suggest.NeedsHuman,
			&want{"kubectl rollout undo deployment/web --to-revision=3 -n shop", remediate.Observed{UID: "uid-web", Revision: 4, TemplateHash: "hash3"}}, "", "proposed",
		},
		{
			"kubectl rollout undo deployment/web --to-revision=2 -n shop", suggest.NeedsHuman,
			&want{"kubectl rollout undo deployment/web --to-revision=2 -n shop", remediate.Observed{UID: "uid-web", Revision: 4, TemplateHash: "hash2"}}, "", "proposed",
		},
		{"kubectl rollout undo deployment/web --to-revision=7 -n shop", suggest.NeedsHuman, nil, "no ReplicaSet at revision 7", "no_revision"},
		{"kubectl rollout undo deployment/web --to-revision=4 -n shop", suggest.NeedsHuman, nil, "at revision 4 already", "no_change"},
		{"kubectl rollout undo deployment/other -n shop", suggest.NeedsHuman, nil, "no earlier revision", "no_revision"},
		{"kubectl rollout restart deployment/web -n payments", suggest.NeedsHuman, nil, "is not allowlisted", "not_allowlisted"},
		{"kubectl rollout undo deployment/gone -n shop", suggest.NeedsHuman, nil, "deployment shop/gone does not exist", "gone"},
		{
			"kubectl rollout restart deployment/web -n shop", suggest.NeedsHuman,
			&want{"kubectl rollout restart deployment/web -n shop", remediate.Observed{UID: "uid-web"}}, "", "proposed",
		},
		{
			"kubectl scale deployment/web --replicas=4 -n shop", suggest.NeedsHuman,
			&want{"kubectl scale deployment/web --replicas=4 -n shop", remediate.Observed{UID: "uid-web", Replicas: &two}}, "", "proposed",
		},
		{"kubectl scale deployment/web --replicas=40 -n shop", suggest.NeedsHuman, nil, "outside the allowed [1, 6]", "out_of_bounds"},
		{"kubectl scale deployment/web --replicas=2 -n shop", suggest.NeedsHuman, nil, "has 2 replicas already", "no_change"},
		{"kubectl cordon worker-1", suggest.NeedsHuman, &want{"kubectl cordon worker-1", remediate.Observed{UID: "uid-w1"}}, "", "proposed"},
		{"kubectl cordon cp-1", suggest.NeedsHuman, nil, "is not allowlisted", "not_allowlisted"},
		{"kubectl cordon worker-2", suggest.NeedsHuman, nil, "already cordoned", "no_change"},
		{"kubectl uncordon worker-2", suggest.NeedsHuman, &want{"kubectl uncordon worker-2", remediate.Observed{UID: "uid-w2"}}, "", "proposed"},
		{"kubectl drain worker-1", suggest.NeedsHuman, nil, "kubectl drain is not an allowlisted action", "not_an_action"},
		{"kubectl delete pod web-1 -n shop", suggest.NeedsHuman, nil, "not an eviction", "not_an_action"},
		{"kubectl get pods -n shop", suggest.ReadOnly, nil, "", ""},
		{"kubectl rollout undo deployment/web -n shop | tee x", suggest.Rejected, nil, "", ""},
	} {
		t.Run(tc.line, func(t *testing.T) {
			client := proposalCluster()
			var logs bytes.Buffer
			p := newTestProposer(t, client, &logs)
			an := Analysis{Commands: []CheckedCommand{{Command: tc.line, Verdict: tc.verdict}}}
			p.Propose(context.Background(), "corr-1", "shop", &an)
			if tc.wantResult != "" {
				if got := testutil.ToFloat64(p.metrics.proposals.WithLabelValues(tc.wantResult)); got != 1 {
					t.Errorf("foresight_enrich_proposals_total{result=%q} = %v, want 1", tc.wantResult, got)
				}
			}
			for _, a := range client.Actions() {
				if v := a.GetVerb(); v != "get" && v != "list" {
					t.Errorf("the proposer called %s on %s: enrich must only read", v, a.GetResource().Resource)
				}
			}
			if tc.want == nil {
				if len(an.Proposals) != 0 {
					t.Fatalf("proposed %+v", an.Proposals)
				}
				notes := strings.Join(an.Notes, "\n")
				if tc.wantNote == "" && notes != "" || !strings.Contains(notes, tc.wantNote) {
					t.Fatalf("notes %q, want %q", notes, tc.wantNote)
				}
				if strings.Contains(logs.String(), `"audit"`) {
					t.Errorf("audited a proposal that was not made: %s", logs.String())
				}
				return
			}
			if len(an.Proposals) != 1 || len(an.Notes) != 0 {
				t.Fatalf("proposals %+v, notes %v: want one proposal", an.Proposals, an.Notes)
			}
			v := an.Proposals[0]
			prop, err := approval.Verify(proposalKey, v.Token, t0.Add(time.Minute))
			if err != nil {
				t.Fatalf("the token does not verify: %v", err)
			}
			gotObs, _ := json.Marshal(prop.Action.Observed)
			wantObs, _ := json.Marshal(tc.want.observed)
			if v.Command != tc.want.command || prop.Action.String() != tc.want.command || string(gotObs) != string(wantObs) {
				t.Errorf("proposal %s observed %s, want %s observed %s", prop.Action, gotObs, tc.want.command, wantObs)
			}
			if prop.ID != v.ID || prop.CorrelationID != "corr-1" || !prop.Expires.Equal(t0.Add(30*time.Minute)) || !v.Expires.Equal(prop.Expires) {
				t.Errorf("proposal %+v, view %+v", prop, v)
			}
			if v.URL != "https://approver.example.com/approve?token="+url.QueryEscape(v.Token) {
				t.Errorf("URL %q", v.URL)
			}
			if _, err := approval.Verify(proposalKey, v.Token, t0.Add(30*time.Minute)); err == nil {
				t.Error("the token outlives its TTL")
			}
			var line struct {
				Msg   string          `json:"msg"`
				Audit remediate.Entry `json:"audit"`
			}
			if err := json.Unmarshal(logs.Bytes(), &line); err != nil {
				t.Fatalf("audit log line %q: %v", logs.String(), err)
			}
			if line.Audit.Event != remediate.EventProposed || line.Audit.ProposalID != v.ID || line.Audit.Command != tc.want.command || line.Audit.Actor != "foresight-enrich" {
				t.Errorf("audit entry %+v", line.Audit)
			}
		})
	}
}

func TestNewProposerNeedsClusterAndKey(t *testing.T) {
	cfg := &remediate.Config{}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		client *fake.Clientset
		o      ProposerOptions
		want   string
	}{
		{"no cluster", nil, ProposerOptions{Config: cfg, Key: proposalKey}, "cluster access"},
		{"short key", fake.NewClientset(), ProposerOptions{Config: cfg, Key: []byte("short")}, "head -c 32 /dev/urandom"},
		{"bad approver URL", fake.NewClientset(), ProposerOptions{Config: cfg, Key: proposalKey, ApproverURL: "approver:8090"}, "want http(s)://"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.client == nil {
				_, err = NewProposer(nil, tc.o, nil)
			} else {
				_, err = NewProposer(tc.client, tc.o, nil)
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("NewProposer: %v, want %q", err, tc.want)
			}
		})
	}
}

func proposalNotification(t *testing.T) Notification {
	t.Helper()
	var logs bytes.Buffer
	p := newTestProposer(t, proposalCluster(), &logs)
	an := Analysis{RootCause: "revision 4 crashes on start", Commands: []CheckedCommand{
		{Command: "kubectl logs deploy/web -n shop", Verdict: suggest.ReadOnly},
		{Command: "kubectl rollout undo deployment/web -n shop", Verdict: suggest.NeedsHuman, Problems: []string{"changes the cluster: a human must decide to run it"}},
	}}
	p.Propose(context.Background(), "corr-1", "shop", &an)
	if len(an.Proposals) != 1 {
		t.Fatalf("proposals %+v notes %v", an.Proposals, an.Notes)
	}
	a := testAlert(1, StatusFiring)
	return Notification{Kind: KindAnalysis, CorrelationID: a.CorrelationID(), Alert: a, Analysis: &an}
}

func TestSlackBotRendersApprovalButtons(t *testing.T) {
	slack := newSlackServer(t)
	s, err := NewSlackSink(SlackOptions{Token: "xoxb-good", Channel: "C123", APIURL: slack.URL + "/api"})
	if err != nil {
		t.Fatal(err)
	}
	n := proposalNotification(t)
	prop := n.Analysis.Proposals[0]
	if err := s.Send(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	slack.mu.Lock()
	defer slack.mu.Unlock()
	if len(slack.posts) != 1 {
		t.Fatalf("%d posts", len(slack.posts))
	}
	msg := slack.posts[0]
	if strings.Contains(msg["text"].(string), "/approve?token=") {
		t.Errorf("bot message carries the approval link; buttons identify the approver, links do not:\n%s", msg["text"])
	}
	// Decode the blocks the way Slack reads them.
	js, _ := json.Marshal(msg["blocks"])
	var blocks []struct {
		Type     string `json:"type"`
		BlockID  string `json:"block_id"`
		Text     struct{ Type, Text string }
		Elements []struct {
			Type     string `json:"type"`
			ActionID string `json:"action_id"`
			Value    string `json:"value"`
			Style    string `json:"style"`
			Text     struct{ Type, Text string }
			Confirm  *struct {
				Title, Text, Confirm, Deny struct{ Type, Text string }
			} `json:"confirm"`
		} `json:"elements"`
	}
	if err := json.Unmarshal(js, &blocks); err != nil {
		t.Fatal(err)
	}
	var actions int
	for _, b := range blocks {
		switch b.Type {
		case "section":
			if b.Text.Type != "mrkdwn" || len(b.Text.Text) > 3000 || b.Text.Text == "" {
				t.Errorf("section %+v", b.Text)
			}
		case "actions":
			actions++
			if b.BlockID != "foresight_"+prop.ID || len(b.Elements) != 2 {
				t.Fatalf("actions block %+v", b)
			}
			ap, rj := b.Elements[0], b.Elements[1]
			if ap.Type != "button" || ap.ActionID != approval.ActionApprove || ap.Value != prop.Token || ap.Style != "primary" || ap.Text.Text != "Approve" {
				t.Errorf("approve button %+v", ap)
			}
			if ap.Confirm == nil || ap.Confirm.Confirm.Text != "Approve" || ap.Confirm.Deny.Text != "Cancel" || !strings.Contains(ap.Confirm.Text.Text, "kubectl rollout undo deployment/web --to-revision=3 -n shop") || len(ap.Confirm.Text.Text) > 300 {
				t.Errorf("approve confirm dialog %+v", ap.Confirm)
			}
			if rj.ActionID != approval.ActionReject || rj.Value != prop.Token || rj.Style != "" || rj.Confirm != nil {
				t.Errorf("reject button %+v", rj)
			}
		default:
			t.Errorf("unexpected block %s", b.Type)
		}
	}
	if actions != 1 {
		t.Fatalf("%d actions blocks, want 1", actions)
	}
}

func TestOtherSinksCarryTheApprovalLink(t *testing.T) {
	n := proposalNotification(t)
	prop := n.Analysis.Proposals[0]
	slack := newSlackServer(t)
	hook, err := NewSlackSink(SlackOptions{WebhookURL: slack.URL + "/hook"})
	if err != nil {
		t.Fatal(err)
	}
	if err := hook.Send(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	slack.mu.Lock()
	text := slack.posts[0]["text"].(string)
	_, hasBlocks := slack.posts[0]["blocks"]
	slack.mu.Unlock()
	if hasBlocks || !strings.Contains(text, "approve or reject: "+prop.URL) || !strings.Contains(text, "proposed: kubectl rollout undo deployment/web --to-revision=3 -n shop (expires 2026-08-22T10:30:00Z)") {
		t.Errorf("incoming webhook text lacks the link:\n%s", text)
	}
	var out bytes.Buffer
	if err := NewStdoutSink(&out, false).Send(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	var back Notification
	if err := json.Unmarshal(out.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Analysis.Proposals) != 1 || back.Analysis.Proposals[0].URL != prop.URL || back.Analysis.Proposals[0].Token != prop.Token || back.Analysis.Proposals[0].Action.ToRevision != 3 {
		t.Errorf("JSON proposals %+v", back.Analysis.Proposals)
	}
}

func TestChunkLines(t *testing.T) {
	long := strings.Repeat("x", 7000)
	text := "a\n" + long + "\nb\n"
	chunks := chunkLines(text, 3000)
	if strings.Join(chunks, "") != strings.TrimRight(text, "\n") {
		t.Fatal("chunks lose text")
	}
	for _, c := range chunks {
		if len(c) > 3000 {
			t.Fatalf("chunk of %d characters", len(c))
		}
	}
}
