package controlplane

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/foresight-aiops/foresight/e2e/cluster"
	"github.com/foresight-aiops/foresight/remediate"
)

// remediationConfig is the approver's allowlist in TestRemediate. The
// rollout-restart of statefulsets is allowlisted on purpose without the
// RBAC for it, to see the executor name the missing rule.
const remediationConfig = `allow:
  - action: rollout-undo
    namespaces: [shop]
  - action: rollout-restart
    resources: [deployments, statefulsets]
    namespaces: [shop]
  - action: scale
    resources: [deployments]
    namespaces: [shop]
    minReplicas: 0
    maxReplicas: 3
  - action: cordon
    selector: foresight-e2e/cordon=allowed
  - action: uncordon
  - action: evict
    namespaces: [shop]
gate:
  settle: 20s
  poll: 1s
  maxWait: 2m
`

// approverRBAC grants the executor's ServiceAccount exactly what the
// allowlist above needs (less the statefulsets): per action kind, the
// read of its object and its write; for the stability gate, the lists of
// nodes, pods and PodDisruptionBudgets; for the audit, Events.
const approverRBAC = `apiVersion: v1
kind: Namespace
metadata: {name: foresight}
---
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: Namespace
metadata: {name: other}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: foresight-approver, namespace: foresight}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: foresight-approver}
rules:
  # cordon, uncordon: read and patch the node; the gate: every node Ready
  - {apiGroups: [""], resources: [nodes], verbs: [get, list, patch]}
  # the gate: Pending pods, PodDisruptionBudgets, in every namespace
  - {apiGroups: [""], resources: [pods], verbs: [list]}
  - {apiGroups: [policy], resources: [poddisruptionbudgets], verbs: [list]}
  # the audit: an Event on the object acted on (Node events in "default");
  # at start, the last hour's executions are read back from them
  - {apiGroups: [events.k8s.io], resources: [events], verbs: [create, list]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: foresight-approver}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: foresight-approver}
subjects: [{kind: ServiceAccount, name: foresight-approver, namespace: foresight}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: foresight-approver, namespace: shop}
rules:
  # rollout-undo and rollout-restart: read the Deployment (and for an undo
  # its ReplicaSets), patch its template
  - {apiGroups: [apps], resources: [deployments], verbs: [get, patch]}
  - {apiGroups: [apps], resources: [replicasets], verbs: [list]}
  # scale: through the scale subresource
  - {apiGroups: [apps], resources: [deployments/scale], verbs: [update]}
  # evict: read the pod, create its eviction
  - {apiGroups: [""], resources: [pods], verbs: [get]}
  - {apiGroups: [""], resources: [pods/eviction], verbs: [create]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: foresight-approver, namespace: shop}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: foresight-approver}
subjects: [{kind: ServiceAccount, name: foresight-approver, namespace: foresight}]
`

// lockedBuffer is the audit log, read while the executor writes it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// entries returns the audit entries of a proposal.
func (l *lockedBuffer) entries(t *testing.T, proposal string) []remediate.Entry {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []remediate.Entry
	for line := range strings.SplitSeq(strings.TrimSpace(l.b.String()), "\n") {
		var e remediate.Entry
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("audit line %q: %v", line, err)
		}
		if e.ProposalID == proposal {
			out = append(out, e)
		}
	}
	return out
}

// heartbeats keeps hand-made nodes Ready, as a kubelet would, so that the
// node lifecycle controller does not mark them NotReady; a node in down is
// reported Ready=False instead.
type heartbeats struct {
	client kubernetes.Interface
	nodes  []string
	down   sync.Map // node name -> true
	beats  atomic.Int64
}

func (h *heartbeats) beat(ctx context.Context) error {
	now := metav1.Now()
	for _, n := range h.nodes {
		st, reason := corev1.ConditionTrue, "KubeletReady"
		if _, down := h.down.Load(n); down {
			st, reason = corev1.ConditionFalse, "KubeletNotReady"
		}
		patch, _ := json.Marshal(map[string]any{"status": map[string]any{"conditions": []corev1.NodeCondition{{
			Type: corev1.NodeReady, Status: st, Reason: reason, Message: "the e2e test's heartbeat",
			LastHeartbeatTime: now, LastTransitionTime: now,
		}}}})
		if _, err := h.client.CoreV1().Nodes().Patch(ctx, n, types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "status"); err != nil {
			return fmt.Errorf("heartbeat of node %s: %w", n, err)
		}
	}
	h.beats.Add(1)
	return nil
}

func (h *heartbeats) run(ctx context.Context, t *testing.T) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(2 * time.Second):
		}
		if err := h.beat(ctx); err != nil && ctx.Err() == nil {
			t.Log(err)
		}
	}
}

// TestRemediate runs the approver's executor (package remediate) in
// process against a real API server and kube-controller-manager, as a
// ServiceAccount with exactly the RBAC of its allowlist: the first
// disruptive action waits while a node is NotReady; a rollout undo
// restores the previous template; a cordon marks a hand-made node
// unschedulable and a second cordon waits for the stability gate while
// refusals of out-of-allowlist actions change nothing; a stale undo, an
// out-of-bounds scale, and an eviction blocked by a PodDisruptionBudget
// are refused; a missing RBAC rule is named; a restarted executor recalls
// the hour's budget and the gate from its Events. About two minutes.
func TestRemediate(t *testing.T) {
	ctx := t.Context()
	c, e := startStandalone(t, "remediate")
	admin := c.Client
	if err := c.Apply(ctx, approverRBAC); err != nil {
		t.Fatal(err)
	}
	approverClient, err := kubernetes.NewForConfig(&rest.Config{
		Host:            c.Config.Host,
		TLSClientConfig: rest.TLSClientConfig{CAData: c.Config.CAData},
		BearerToken:     serviceAccountToken(t, ctx, e, "foresight", "foresight-approver"),
	})
	if err != nil {
		t.Fatal(err)
	}

	// Hand-made nodes (no kubelet): a and b may be cordoned, x may not;
	// p hosts the pod a PodDisruptionBudget guards; s goes NotReady for a
	// while during the gate's wait.
	hb := handMadeNodes(t, ctx, admin, []string{"node-a", "node-b", "node-c"}, "node-x", "node-p", "node-s")

	// Running pods on node-p: guarded, which a PodDisruptionBudget
	// protects (no disruption allowed), and victim and early, which
	// nothing does.
	// Made before any disruptive action, so that they are no "new Pending
	// pods" to the gate.
	for _, name := range []string{"guarded", "victim", "early"} {
		pod, err := admin.CoreV1().Pods("shop").Create(ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop", Labels: map[string]string{"app": name}},
			Spec:       corev1.PodSpec{NodeName: "node-p", Containers: []corev1.Container{{Name: "app", Image: "registry.k8s.io/pause:3.10"}}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{
			{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()},
			{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()},
		}}
		if _, err := admin.CoreV1().Pods("shop").UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// Deployments keep 0 replicas: without a scheduler their pods would
	// stay Pending, and the stability gate would (rightly) never open.
	if err := c.Apply(ctx, `apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: guarded, namespace: shop}
spec:
  minAvailable: 1
  selector: {matchLabels: {app: guarded}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop, annotations: {kubernetes.io/change-cause: "first release"}}
spec:
  replicas: 0
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: app, image: "registry.k8s.io/pause:3.9", env: [{name: RELEASE, value: "1"}]}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: other}
spec:
  replicas: 0
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: app, image: "registry.k8s.io/pause:3.9"}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: shop}
spec:
  replicas: 0
  serviceName: db
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers: [{name: db, image: "registry.k8s.io/pause:3.10"}]
`); err != nil {
		t.Fatal(err)
	}

	cfg, err := remediate.Parse(strings.NewReader(remediationConfig))
	if err != nil {
		t.Fatal(err)
	}
	audit := &lockedBuffer{}
	ex := remediate.NewExecutor(approverClient, cfg, remediate.ExecutorOptions{
		Audit: remediate.NewAudit(audit, approverClient, nil, nil),
	})
	var n atomic.Int32
	approveWith := func(ex *remediate.Executor, a remediate.Action) (remediate.Approval, remediate.Result) {
		ap := remediate.Approval{ProposalID: fmt.Sprintf("p%02d", n.Add(1)), CorrelationID: "e2e", Action: a, Approver: "slack:U0E2E (e2e)", Via: "slack", At: time.Now()}
		r := ex.Execute(ctx, ap)
		t.Logf("%s -> %s %s: %s", a, r.Outcome, r.Reason, r.Message)
		return ap, r
	}
	approve := func(a remediate.Action) (remediate.Approval, remediate.Result) { return approveWith(ex, a) }
	expect := func(t *testing.T, r remediate.Result, outcome, reason string, msg ...string) {
		t.Helper()
		if r.Outcome != outcome || r.Reason != reason {
			t.Errorf("result %s/%s (%s), want %s/%s", r.Outcome, r.Reason, r.Message, outcome, reason)
		}
		for _, m := range msg {
			if !strings.Contains(r.Message, m) {
				t.Errorf("message %q lacks %q", r.Message, m)
			}
		}
	}

	// (0) the first disruptive action after a start is gated too: while a
	// node is NotReady it waits, and runs once the cluster has been stable
	// for the settle period.
	t.Run("FirstDisruptiveActionWaits", func(t *testing.T) {
		hb.down.Store("node-s", true)
		if err := hb.beat(ctx); err != nil {
			t.Fatal(err)
		}
		type result struct {
			ap remediate.Approval
			r  remediate.Result
		}
		done := make(chan result, 1)
		go func() {
			ap, r := approve(remediate.Action{Kind: remediate.Evict, Resource: remediate.Pods, Namespace: "shop", Name: "early"})
			done <- result{ap, r}
		}()
		time.Sleep(3 * time.Second)
		if p, err := admin.CoreV1().Pods("shop").Get(ctx, "early", metav1.GetOptions{}); err != nil {
			t.Fatal(err)
		} else if p.DeletionTimestamp != nil {
			t.Fatal("the first eviction did not wait while node-s was NotReady")
		}
		hb.down.Delete("node-s")
		if err := hb.beat(ctx); err != nil {
			t.Fatal(err)
		}
		readyAgain := time.Now()
		var res result
		select {
		case res = <-done:
		case <-time.After(cfg.Gate.MaxWait + 30*time.Second):
			t.Fatal("the first eviction never returned")
		}
		expect(t, res.r, remediate.OutcomeExecuted, "", "evicted pod shop/early")
		if d := time.Since(readyAgain); d < cfg.Gate.Settle-2*cfg.Gate.Poll {
			t.Errorf("the first eviction ran %s after node-s was Ready again, before the settle period (%s) was over", d, cfg.Gate.Settle)
		}
		if es := audit.entries(t, res.ap.ProposalID); len(es) != 2 || es[0].Event != remediate.EventWaiting ||
			!strings.Contains(es[0].Message, "the cluster is not stable now: nodes not Ready: node-s") {
			t.Errorf("audit of the first eviction: %+v", es)
		}
		// No kubelet finishes the deletion: take the pod away, or it would
		// stay terminating and (rightly) keep the gate shut.
		if err := admin.CoreV1().Pods("shop").Delete(ctx, "early", metav1.DeleteOptions{GracePeriodSeconds: new(int64(0))}); err != nil {
			t.Fatal(err)
		}
	})

	// (i) rollout undo restores the previous template.
	var rev1 *appsv1.ReplicaSet
	t.Run("RolloutUndo", func(t *testing.T) {
		rev1 = waitRevision(t, ctx, admin, "shop", "web", 1)
		if _, err := c.Kubectl(ctx, "", "-n", "shop", "set", "image", "deployment/web", "app=registry.k8s.io/pause:3.10"); err != nil {
			t.Fatal(err)
		}
		rev2 := waitRevision(t, ctx, admin, "shop", "web", 2)
		d := getDeployment(t, ctx, admin, "shop", "web")
		ap, r := approve(remediate.Action{
			Kind: remediate.RolloutUndo, Resource: remediate.Deployments, Namespace: "shop", Name: "web", ToRevision: 1,
			Observed: remediate.Observed{UID: string(d.UID), Revision: 2, TemplateHash: rev1.Labels[appsv1.DefaultDeploymentUniqueLabelKey]},
		})
		expect(t, r, remediate.OutcomeExecuted, "", "rolled back deployment shop/web from revision 2 to revision 1",
			"the template of ReplicaSet "+rev1.Name, "images app=registry.k8s.io/pause:3.9")
		d = getDeployment(t, ctx, admin, "shop", "web")
		want := rev1.Spec.Template.DeepCopy()
		delete(want.Labels, appsv1.DefaultDeploymentUniqueLabelKey)
		if !equality.Semantic.DeepEqual(&d.Spec.Template, want) {
			t.Errorf("the Deployment's template after the undo:\n%+v\nwant revision 1's:\n%+v", d.Spec.Template, *want)
		}
		if d.Annotations["kubernetes.io/change-cause"] != "first release" {
			t.Errorf("annotations %v: revision 1's change-cause not restored", d.Annotations)
		}
		// The controller makes revision 1's ReplicaSet revision 3.
		rs := waitRevision(t, ctx, admin, "shop", "web", 3)
		if rs.Name != rev1.Name || rs.Name == rev2.Name {
			t.Errorf("revision 3 is ReplicaSet %s, want %s (the old revision 1)", rs.Name, rev1.Name)
		}
		if es := audit.entries(t, ap.ProposalID); len(es) != 1 || es[0].Event != remediate.EventExecuted || es[0].Actor != ap.Approver {
			t.Errorf("audit %+v", es)
		}
		waitEvent(t, ctx, admin, "shop", "web", "RemediationExecuted")
	})

	// (iii) drift: an undo proposed at revision 3 is stale after another
	// rollout.
	t.Run("DriftAfterRollout", func(t *testing.T) {
		rev2 := rsAtRevision(t, ctx, admin, "shop", "web", 2)
		proposed := remediate.Action{
			Kind: remediate.RolloutUndo, Resource: remediate.Deployments, Namespace: "shop", Name: "web", ToRevision: 2,
			Observed: remediate.Observed{Revision: 3, TemplateHash: rev2.Labels[appsv1.DefaultDeploymentUniqueLabelKey]},
		}
		if _, err := c.Kubectl(ctx, "", "-n", "shop", "set", "image", "deployment/web", "app=registry.k8s.io/pause:3.8"); err != nil {
			t.Fatal(err)
		}
		waitRevision(t, ctx, admin, "shop", "web", 4)
		before := getDeployment(t, ctx, admin, "shop", "web")
		_, r := approve(proposed)
		expect(t, r, remediate.OutcomeRefused, remediate.ReasonDrifted, "deployment shop/web is at revision 4, not 3", "propose again")
		after := getDeployment(t, ctx, admin, "shop", "web")
		if after.Generation != before.Generation || after.Spec.Template.Spec.Containers[0].Image != "registry.k8s.io/pause:3.8" {
			t.Errorf("the refused undo changed the Deployment: generation %d -> %d, image %s", before.Generation, after.Generation, after.Spec.Template.Spec.Containers[0].Image)
		}
		waitEvent(t, ctx, admin, "shop", "web", "RemediationRefused")
	})

	// A rollout restart stamps the template as kubectl does: a new revision.
	t.Run("RolloutRestart", func(t *testing.T) {
		_, r := approve(remediate.Action{Kind: remediate.RolloutRestart, Resource: remediate.Deployments, Namespace: "shop", Name: "web"})
		expect(t, r, remediate.OutcomeExecuted, "", "restarted deployment shop/web", "kubectl.kubernetes.io/restartedAt=")
		d := getDeployment(t, ctx, admin, "shop", "web")
		if at, err := time.Parse(time.RFC3339, d.Spec.Template.Annotations["kubectl.kubernetes.io/restartedAt"]); err != nil || time.Since(at) > time.Minute {
			t.Errorf("restartedAt %q: %v", d.Spec.Template.Annotations["kubectl.kubernetes.io/restartedAt"], err)
		}
		if d.Spec.Template.Spec.Containers[0].Image != "registry.k8s.io/pause:3.8" {
			t.Errorf("the restart changed the image to %s", d.Spec.Template.Spec.Containers[0].Image)
		}
		waitRevision(t, ctx, admin, "shop", "web", 5)
	})

	// (iv) a scale outside the allowlist's bounds is refused.
	t.Run("ScaleOutOfBounds", func(t *testing.T) {
		_, r := approve(remediate.Action{Kind: remediate.Scale, Resource: remediate.Deployments, Namespace: "shop", Name: "web", Replicas: new(int32(5))})
		expect(t, r, remediate.OutcomeRefused, remediate.ReasonOutOfBounds, "scale to 5 replicas is outside the allowed [0, 3] for shop/web")
		if d := getDeployment(t, ctx, admin, "shop", "web"); *d.Spec.Replicas != 0 {
			t.Errorf("replicas %d after a refused scale", *d.Spec.Replicas)
		}
	})

	// A rule the RBAC lacks: the refusal names the rule to grant.
	t.Run("ForbiddenNamesTheRule", func(t *testing.T) {
		_, r := approve(remediate.Action{Kind: remediate.RolloutRestart, Resource: remediate.StatefulSets, Namespace: "shop", Name: "db"})
		expect(t, r, remediate.OutcomeRefused, remediate.ReasonForbidden, `{apiGroups: ["apps"], resources: ["statefulsets"], verbs: ["get"]} in namespace shop`)
	})

	// (ii) cordon, then a second cordon waits for the stability gate, while
	// out-of-allowlist actions are refused at once and change nothing.
	t.Run("CordonAndGate", func(t *testing.T) {
		_, r := approve(remediate.Action{Kind: remediate.Cordon, Resource: remediate.Nodes, Name: "node-a"})
		expect(t, r, remediate.OutcomeExecuted, "", "cordoned node node-a")
		if !getNode(t, ctx, admin, "node-a").Spec.Unschedulable {
			t.Fatal("node-a is not unschedulable after the cordon")
		}
		first := time.Now()

		type result struct {
			ap remediate.Approval
			r  remediate.Result
			at time.Time
		}
		second := make(chan result, 1)
		go func() {
			ap, r := approve(remediate.Action{Kind: remediate.Cordon, Resource: remediate.Nodes, Name: "node-b"})
			second <- result{ap, r, time.Now()}
		}()
		// The second cordon waits: node-b stays schedulable meanwhile.
		time.Sleep(3 * time.Second)
		if getNode(t, ctx, admin, "node-b").Spec.Unschedulable {
			t.Fatal("node-b was cordoned without waiting for the gate")
		}
		// Meanwhile, out of the allowlist: refused at once, nothing changes.
		t0 := time.Now()
		_, r = approve(remediate.Action{Kind: remediate.Cordon, Resource: remediate.Nodes, Name: "node-x"})
		expect(t, r, remediate.OutcomeRefused, remediate.ReasonNotAllowlisted, "kubectl cordon node-x is not allowlisted")
		_, r = approve(remediate.Action{Kind: remediate.RolloutUndo, Resource: remediate.Deployments, Namespace: "other", Name: "web", ToRevision: 1})
		expect(t, r, remediate.OutcomeRefused, remediate.ReasonNotAllowlisted, `namespace "other"`)
		if d := time.Since(t0); d > 5*time.Second {
			t.Errorf("the refusals took %s: they must not wait for the gate", d)
		}
		if getNode(t, ctx, admin, "node-x").Spec.Unschedulable {
			t.Error("node-x, outside the allowlist, was cordoned")
		}
		if d := getDeployment(t, ctx, admin, "other", "web"); d.Generation != 1 {
			t.Errorf("other/web changed (generation %d)", d.Generation)
		}
		// node-s goes NotReady for 4s: the settle period starts over.
		hb.down.Store("node-s", true)
		if err := hb.beat(ctx); err != nil {
			t.Fatal(err)
		}
		time.Sleep(4 * time.Second)
		hb.down.Delete("node-s")
		if err := hb.beat(ctx); err != nil {
			t.Fatal(err)
		}
		// Then a new Pending pod (no scheduler) for 4s: it starts over again.
		if _, err := admin.CoreV1().Pods("shop").Create(ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "newcomer", Namespace: "shop"},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.k8s.io/pause:3.10"}}},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(4 * time.Second)
		if err := admin.CoreV1().Pods("shop").Delete(ctx, "newcomer", metav1.DeleteOptions{GracePeriodSeconds: new(int64(0))}); err != nil {
			t.Fatal(err)
		}
		readyAgain := time.Now()

		var res result
		select {
		case res = <-second:
		case <-time.After(cfg.Gate.MaxWait + 30*time.Second):
			t.Fatal("the second cordon never returned")
		}
		expect(t, res.r, remediate.OutcomeExecuted, "", "cordoned node node-b")
		if !getNode(t, ctx, admin, "node-b").Spec.Unschedulable {
			t.Error("node-b is not unschedulable after its cordon")
		}
		waited := res.at.Sub(first)
		t.Logf("the second cordon ran %s after the first, %s after the cluster was stable again (gate.settle %s)",
			waited.Round(100*time.Millisecond), res.at.Sub(readyAgain).Round(100*time.Millisecond), cfg.Gate.Settle)
		// Stable continuously for Settle: counted from the Pending pod's
		// deletion (less two polls of slack).
		if res.at.Sub(readyAgain) < cfg.Gate.Settle-2*cfg.Gate.Poll {
			t.Errorf("the second cordon ran %s after the cluster was stable again, before the settle period (%s) was over", res.at.Sub(readyAgain), cfg.Gate.Settle)
		}
		es := audit.entries(t, res.ap.ProposalID)
		if len(es) != 2 || es[0].Event != remediate.EventWaiting || es[1].Event != remediate.EventExecuted ||
			!strings.Contains(es[0].Message, "the last one, kubectl cordon node-a, began at") {
			t.Errorf("audit of the second cordon: %+v", es)
		}
		waitEvent(t, ctx, admin, "default", "node-b", "RemediationWaiting")
		waitEvent(t, ctx, admin, "default", "node-b", "RemediationExecuted")
		waitEvent(t, ctx, admin, "default", "node-x", "RemediationRefused")
	})

	// (v) an eviction whose dry run a PodDisruptionBudget blocks, after
	// the gate waited for that PDB to be healthy again.
	t.Run("EvictionBlockedByPDB", func(t *testing.T) {
		waitPDB(t, ctx, admin, "shop", "guarded", 1)
		done := make(chan remediate.Result, 1)
		go func() {
			_, r := approve(remediate.Action{Kind: remediate.Evict, Resource: remediate.Pods, Namespace: "shop", Name: "guarded"})
			done <- r
		}()
		time.Sleep(2 * time.Second)
		setPodReady(t, ctx, admin, "shop", "guarded", corev1.ConditionFalse)
		waitPDB(t, ctx, admin, "shop", "guarded", 0)
		time.Sleep(2 * time.Second)
		setPodReady(t, ctx, admin, "shop", "guarded", corev1.ConditionTrue)
		waitPDB(t, ctx, admin, "shop", "guarded", 1)
		healthy := time.Now()
		r := <-done
		if d := time.Since(healthy); d < cfg.Gate.Settle-2*cfg.Gate.Poll {
			t.Errorf("the eviction went on %s after the PodDisruptionBudget was healthy again, before the settle period (%s) was over", d, cfg.Gate.Settle)
		}
		expect(t, r, remediate.OutcomeRefused, remediate.ReasonPDBBlocked, "would violate a PodDisruptionBudget", "kubectl get pdb -n shop")
		p, err := admin.CoreV1().Pods("shop").Get(ctx, "guarded", metav1.GetOptions{})
		if err != nil || p.DeletionTimestamp != nil {
			t.Errorf("the guarded pod after the refused eviction: %v, deleting %v", err, p.DeletionTimestamp)
		}
	})

	// A restarted approver (a new Executor) recalls the last hour from its
	// Events: the two cordons spent the cordon budget (2 per hour by
	// default), and an eviction still waits for the stability gate after
	// the last cordon, then evicts the unprotected pod.
	t.Run("RestartRecallsBudgetAndGate", func(t *testing.T) {
		restarted := remediate.NewExecutor(approverClient, cfg, remediate.ExecutorOptions{Audit: remediate.NewAudit(audit, approverClient, nil, nil)})
		_, r := approveWith(restarted, remediate.Action{Kind: remediate.Cordon, Resource: remediate.Nodes, Name: "node-c"})
		expect(t, r, remediate.OutcomeRefused, remediate.ReasonBudget, "the hourly budget for cordon is spent: 2 per hour, used at ")
		if getNode(t, ctx, admin, "node-c").Spec.Unschedulable {
			t.Fatal("node-c was cordoned beyond the budget")
		}
		t0 := time.Now()
		ap, r := approveWith(restarted, remediate.Action{Kind: remediate.Evict, Resource: remediate.Pods, Namespace: "shop", Name: "victim"})
		expect(t, r, remediate.OutcomeExecuted, "", "evicted pod shop/victim through the Eviction API")
		if d := time.Since(t0); d < cfg.Gate.Settle-2*cfg.Gate.Poll {
			t.Errorf("after a restart the eviction ran %s after its approval, without the settle period (%s)", d, cfg.Gate.Settle)
		}
		if es := audit.entries(t, ap.ProposalID); len(es) != 2 || !strings.Contains(es[0].Message, "the last one, cordon of node node-b (before a restart)") {
			t.Errorf("audit after the restart: %+v", es)
		}
		// No kubelet finishes the deletion: the pod stays Terminating.
		if p, err := admin.CoreV1().Pods("shop").Get(ctx, "victim", metav1.GetOptions{}); err == nil && p.DeletionTimestamp == nil {
			t.Error("the evicted pod is not being deleted")
		}
	})

	// Not disruptive: an uncordon runs at once; a cordon of a cordoned node
	// changes nothing and spends no budget.
	t.Run("UncordonAndNoop", func(t *testing.T) {
		_, r := approve(remediate.Action{Kind: remediate.Cordon, Resource: remediate.Nodes, Name: "node-b"})
		expect(t, r, remediate.OutcomeExecuted, "", "node node-b is already cordoned: nothing changed")
		t0 := time.Now()
		_, r = approve(remediate.Action{Kind: remediate.Uncordon, Resource: remediate.Nodes, Name: "node-a"})
		expect(t, r, remediate.OutcomeExecuted, "", "uncordoned node node-a")
		if getNode(t, ctx, admin, "node-a").Spec.Unschedulable || time.Since(t0) > 5*time.Second {
			t.Errorf("node-a still unschedulable, or the uncordon waited (%s)", time.Since(t0))
		}
	})

	// A scale within bounds runs through the scale subresource (last: its
	// pods stay Pending without a scheduler, which would close the gate).
	t.Run("Scale", func(t *testing.T) {
		d := getDeployment(t, ctx, admin, "shop", "web")
		_, r := approve(remediate.Action{
			Kind: remediate.Scale, Resource: remediate.Deployments, Namespace: "shop", Name: "web", Replicas: new(int32(2)),
			Observed: remediate.Observed{UID: string(d.UID), Replicas: new(int32(0))},
		})
		expect(t, r, remediate.OutcomeExecuted, "", "scaled deployment shop/web from 0 to 2 replicas")
		if d := getDeployment(t, ctx, admin, "shop", "web"); *d.Spec.Replicas != 2 {
			t.Errorf("replicas %d after the scale, want 2", *d.Spec.Replicas)
		}
	})
	if hb.beats.Load() < 2 {
		t.Errorf("the heartbeat ran %d times", hb.beats.Load())
	}
}

func getDeployment(t *testing.T, ctx context.Context, c kubernetes.Interface, ns, name string) *appsv1.Deployment {
	t.Helper()
	d, err := c.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func getNode(t *testing.T, ctx context.Context, c kubernetes.Interface, name string) *corev1.Node {
	t.Helper()
	n, err := c.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// waitRevision waits until the Deployment is at revision rev and returns
// its ReplicaSet of that revision.
func waitRevision(t *testing.T, ctx context.Context, c kubernetes.Interface, ns, name string, rev int) *appsv1.ReplicaSet {
	t.Helper()
	want := strconv.Itoa(rev)
	var last string
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		d := getDeployment(t, ctx, c, ns, name)
		last = d.Annotations["deployment.kubernetes.io/revision"]
		if last != want {
			continue
		}
		if rs := findRevision(t, ctx, c, ns, name, want); rs != nil {
			return rs
		}
	}
	t.Fatalf("deployment %s/%s at revision %q, not %s, after 60s", ns, name, last, want)
	return nil
}

// rsAtRevision returns the Deployment's ReplicaSet of revision rev.
func rsAtRevision(t *testing.T, ctx context.Context, c kubernetes.Interface, ns, name string, rev int) *appsv1.ReplicaSet {
	t.Helper()
	rs := findRevision(t, ctx, c, ns, name, strconv.Itoa(rev))
	if rs == nil {
		t.Fatalf("deployment %s/%s has no ReplicaSet of revision %d", ns, name, rev)
	}
	return rs
}

func findRevision(t *testing.T, ctx context.Context, c kubernetes.Interface, ns, name, rev string) *appsv1.ReplicaSet {
	t.Helper()
	rss, err := c.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=" + name})
	if err != nil {
		t.Fatal(err)
	}
	for i := range rss.Items {
		if rss.Items[i].Annotations["deployment.kubernetes.io/revision"] == rev {
			return &rss.Items[i]
		}
	}
	return nil
}

// waitPDB waits until the disruption controller counts healthy pods for
// the PodDisruptionBudget (of 1 desired: no disruption allowed).
func waitPDB(t *testing.T, ctx context.Context, c kubernetes.Interface, ns, name string, healthy int32) {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		b, err := c.PolicyV1().PodDisruptionBudgets(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if b.Status.ObservedGeneration == b.Generation && b.Status.CurrentHealthy == healthy && b.Status.DesiredHealthy == 1 && b.Status.DisruptionsAllowed == 0 {
			return
		}
	}
	t.Fatalf("PodDisruptionBudget %s/%s never counted %d healthy pod(s)", ns, name, healthy)
}

// setPodReady sets a (kubelet-less) pod's Ready condition.
func setPodReady(t *testing.T, ctx context.Context, c kubernetes.Interface, ns, name string, st corev1.ConditionStatus) {
	t.Helper()
	p, err := c.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == corev1.PodReady {
			p.Status.Conditions[i].Status, p.Status.Conditions[i].LastTransitionTime = st, metav1.Now()
		}
	}
	if _, err := c.CoreV1().Pods(ns).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// waitEvent waits for the approver's Event with reason on the object.
func waitEvent(t *testing.T, ctx context.Context, c kubernetes.Interface, ns, object, reason string) {
	t.Helper()
	var seen []string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		evs, err := c.EventsV1().Events(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		seen = seen[:0]
		for _, ev := range evs.Items {
			if ev.ReportingController != remediate.ReportingController || ev.Regarding.Name != object {
				continue
			}
			seen = append(seen, ev.Reason+": "+ev.Note)
			if ev.Reason == reason && strings.Contains(ev.Note, "slack:U0E2E (e2e)") {
				return
			}
		}
	}
	t.Errorf("no %s Event on %s in namespace %s; the approver's Events there: %q", reason, object, ns, seen)
}

// startStandalone starts a control plane of the test's own (no KEDA, no
// network namespace) in /tmp/foresight-e2e-NAME, beside the other tests'
// (the test runs in parallel), and stops it when the test ends.
func startStandalone(t *testing.T, name string) (*cluster.Cluster, *env) {
	t.Helper()
	if testing.Short() {
		t.Skip("the control plane takes a while: not in -short")
	}
	if os.Getenv(cluster.EnvKubeconfig) != "" {
		t.Skip("hand-made nodes with a fake heartbeat: only on the local control plane")
	}
	t.Parallel()
	c, err := cluster.Start(t.Context(), cluster.Options{Dir: "/tmp/foresight-e2e-" + name, NoKEDA: true, Standalone: true, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	return c, &env{c: c, t0: time.Now()}
}

// handMadeNodes creates Nodes without a kubelet, the cordonable ones
// labelled foresight-e2e/cordon=allowed, and keeps them all Ready with a
// heartbeat until the test ends.
func handMadeNodes(t *testing.T, ctx context.Context, admin kubernetes.Interface, cordonable []string, others ...string) *heartbeats {
	t.Helper()
	nodes := append(slices.Clone(cordonable), others...)
	for _, n := range nodes {
		labels := map[string]string{}
		if slices.Contains(cordonable, n) {
			labels["foresight-e2e/cordon"] = "allowed"
		}
		if _, err := admin.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n, Labels: labels}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	hb := &heartbeats{client: admin, nodes: nodes}
	if err := hb.beat(ctx); err != nil {
		t.Fatal(err)
	}
	hbCtx, stop := context.WithCancel(ctx)
	t.Cleanup(stop)
	go hb.run(hbCtx, t)
	return hb
}
