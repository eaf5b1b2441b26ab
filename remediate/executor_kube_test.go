package remediate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// These tests drive the executor through client-go's fake clientset, with
// reactors standing in for what a real API server cannot be made to do on
// demand (lose an answer, conflict at the right moment). The paths a real
// API server decides are in e2e/controlplane (TestRemediate).

func readyNode(name, rv string, labels map[string]string) *corev1.Node {
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, ResourceVersion: rv, Labels: labels, UID: "uid-" + "name"},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{
			{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady"},
		}},
	}
}

func mustParse(t *testing.T, yaml string) *Config {
	t.Helper()
	cfg, err := Parse(strings.NewReader(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func approval(id string, a Action) Approval {
	return Approval{ProposalID: id, Action: a, Approver: "slack:U1 (alice)", Via: "slack"}
}

func cordon(node string) Action { return Action{Kind: Cordon, Resource: Nodes, Name: node} }

// isDryRun tells a dry run's patch from the real one.
func isDryRun(a k8stesting.Action) bool {
	switch a := a.(type) {
	case k8stesting.PatchActionImpl:
		return len(a.PatchOptions.DryRun) > 0
	case k8stesting.UpdateActionImpl:
		return len(a.UpdateOptions.DryRun) > 0
	}
	return false
}

// auditLines parses the audit log.
func auditLines(t *testing.T, buf *bytes.Buffer) []Entry {
	t.Helper()
	var es []Entry
	for l := range strings.SplitSeq(strings.TrimSpace(buf.String()), "\n") {
		var e Entry
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("audit line %q: %v", l, err)
		}
		es = append(es, e)
	}
	return es
}

// TestExecuteLostAnswer: a write whose answer is lost (the API server
// applied it, the connection dropped) is not a rejection: it is reported
// as "may have been applied", spends the budget, counts for the gate, is
// recorded so that a restarted executor recalls it, and is never
// retryable. A definite rejection (a 4xx) of the write refunds the budget
// and is retryable. The old executor refunded the budget and said "the
// API server rejected" the cordon it had applied.
func TestExecuteLostAnswer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cs := fake.NewClientset(readyNode("n1", "7", nil), readyNode("n2", "7", nil), readyNode("n3", "7", nil))
		var failWith error
		cs.PrependReactor("patch", "nodes", func(a k8stesting.Action) (bool, runtime.Object, error) {
			if isDryRun(a) {
				return true, nil, nil // the fake tracker would apply a dry run
			}
			if failWith == nil {
				return false, nil, nil
			}
			err := failWith
			if apierrors.IsInvalid(err) {
				return true, nil, err // rejected: nothing applied
			}
			// Applied, and then the answer is lost.
			n, _ := cs.Tracker().Get(schema.GroupVersionResource{Version: "v1", Resource: "nodes"}, "", a.(k8stesting.PatchActionImpl).Name)
			node := n.(*corev1.Node).DeepCopy()
			node.Spec.Unschedulable = true
			if err := cs.Tracker().Update(schema.GroupVersionResource{Version: "v1", Resource: "nodes"}, node, ""); err != nil {
				t.Error(err)
			}
			return true, nil, err
		})
		cfg := mustParse(t, "allow: [{action: cordon}]\nbudgets: {cordon: 2}\ngate: {settle: 1m, poll: 10s, maxWait: 10m}\n")
		var buf bytes.Buffer
		audit := NewAudit(&buf, cs, nil, nil)
		e := NewExecutor(cs, cfg, ExecutorOptions{Audit: audit})

		// A definite rejection: nothing applied, the budget refunded.
		failWith = apierrors.NewInvalid(schema.GroupKind{Kind: "Node"}, "n3", nil)
		r := e.Execute(t.Context(), approval("p0", cordon("n3")))
		if r.Outcome != OutcomeFailed || r.Reason != ReasonAPIError || !r.Retryable() || !strings.Contains(r.Message, "so nothing was done") {
			t.Errorf("a rejected write: %+v (retryable %v)", r, r.Retryable())
		}
		if got := e.budget.remaining(Cordon, time.Now()); got != 2 {
			t.Errorf("a rejected write left %d of 2 cordons", got)
		}

		failWith = errors.New("http2: client connection lost")
		t0 := time.Now()
		r = e.Execute(t.Context(), approval("p1", cordon("n1")))
		if r.Outcome != OutcomeFailed || r.Reason != ReasonUnknownResult || r.Retryable() {
			t.Fatalf("a lost answer: %+v (retryable %v)", r, r.Retryable())
		}
		for _, want := range []string{"kubectl cordon n1 may have been applied", "http2: client connection lost", "kubectl get node n1"} {
			if !strings.Contains(r.Message, want) {
				t.Errorf("message %q lacks %q", r.Message, want)
			}
		}
		if got := e.budget.remaining(Cordon, time.Now()); got != 1 {
			t.Errorf("after a lost answer %d of 2 cordons left, want 1 (it counts)", got)
		}
		// It counts for the gate: the next cordon waits for the settle period.
		failWith = nil
		r = e.Execute(t.Context(), approval("p2", cordon("n2")))
		if r.Outcome != OutcomeExecuted || time.Since(t0) < cfg.Gate.Settle {
			t.Errorf("the next cordon: %+v after %s, want executed after the settle period (%s)", r, time.Since(t0), cfg.Gate.Settle)
		}
		if err := audit.Close(t.Context()); err != nil {
			t.Fatal(err)
		}
		es := auditLines(t, &buf)
		var lost *Entry
		for i := range es {
			if es[i].ProposalID == "p1" {
				lost = &es[i]
			}
		}
		if lost == nil || lost.Event != EventFailed || lost.Reason != ReasonUnknownResult {
			t.Errorf("audit of the lost answer: %+v", lost)
		}
		evs, err := cs.EventsV1().Events("default").List(t.Context(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var reasons []string
		for _, ev := range evs.Items {
			if ev.Regarding.Name == "n1" {
				reasons = append(reasons, ev.Reason)
			}
		}
		// (It waited: the rejected write of n3 had begun.)
		if strings.Join(reasons, ",") != "RemediationWaiting,"+unknownResultReason {
			t.Errorf("Events on n1: %q, want RemediationWaiting, %s", reasons, unknownResultReason)
		}

		// A restarted executor recalls it (and the executed cordon): the
		// budget is spent.
		time.Sleep(time.Second)
		restarted := NewExecutor(cs, cfg, ExecutorOptions{})
		r = restarted.Execute(t.Context(), approval("p3", cordon("n3")))
		if r.Outcome != OutcomeRefused || r.Reason != ReasonBudget || !r.Retryable() {
			t.Errorf("after a restart: %+v, want budget_spent", r)
		}
	})
}

// TestWriteOutlivesTheRequest: a write that has begun is not cut off by
// the end of the approval's context (the approver's shutdown), which
// would leave its result unknown.
func TestWriteOutlivesTheRequest(t *testing.T) {
	e := NewExecutor(nil, mustParse(t, "allow: [{action: cordon}]\n"), ExecutorOptions{})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	var dryErr, writeErr error
	p := &plan{apply: func(ctx context.Context, dryRun bool) (string, error) {
		if _, ok := ctx.Deadline(); !ok {
			t.Error("an API call without a deadline")
		}
		if dryRun {
			dryErr = ctx.Err()
		} else {
			writeErr = ctx.Err()
		}
		return "", nil
	}}
	_ = e.apply(ctx, p, true)
	if _, err := e.write(ctx, p); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(dryErr, context.Canceled) || writeErr != nil {
		t.Errorf("dry run saw %v (want canceled: nothing begun yet), write saw %v (want none)", dryErr, writeErr)
	}
}

// TestRecallRetried: when the approver's Events cannot be read, the
// executor says so (a gauge, a counter), makes a disruptive action wait
// for the settle period as if one had just run, and reads them again on
// the next approval; once it can, their executions count. The old
// executor tried once and started with empty budgets and gate for good.
func TestRecallRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cs := fake.NewClientset(readyNode("n1", "1", nil), readyNode("n2", "1", nil), readyNode("n3", "1", nil))
		earlier := &eventsv1.Event{
			ObjectMeta:          metav1.ObjectMeta{Name: "n9.1", Namespace: "default"},
			EventTime:           metav1.NewMicroTime(time.Now().Add(-10 * time.Minute)),
			ReportingController: ReportingController, ReportingInstance: "old",
			Action: string(Cordon), Reason: eventReason(EventExecuted),
			Regarding: corev1.ObjectReference{Kind: "Node", Name: "n9"},
		}
		if _, err := cs.EventsV1().Events("default").Create(t.Context(), earlier, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		failures := 1
		cs.PrependReactor("list", "events", func(k8stesting.Action) (bool, runtime.Object, error) {
			mu.Lock()
			defer mu.Unlock()
			if failures > 0 {
				failures--
				return true, nil, apierrors.NewServiceUnavailable("etcd leader changed")
			}
			return false, nil, nil
		})
		cfg := mustParse(t, "allow: [{action: cordon}]\nbudgets: {cordon: 2}\ngate: {settle: 1m, poll: 10s, maxWait: 10m}\n")
		reg := prometheus.NewRegistry()
		var buf bytes.Buffer
		e := NewExecutor(cs, cfg, ExecutorOptions{Registerer: reg, Audit: NewAudit(&buf, nil, nil, nil)})

		t0 := time.Now()
		r := e.Execute(t.Context(), approval("p1", cordon("n1")))
		if r.Outcome != OutcomeExecuted {
			t.Fatalf("%+v", r)
		}
		if d := time.Since(t0); d < cfg.Gate.Settle {
			t.Errorf("with the history unknown, a stable cluster's first cordon ran after %s, want the settle period (%s)", d, cfg.Gate.Settle)
		}
		if es := auditLines(t, &buf); len(es) != 2 || es[0].Event != EventWaiting || !strings.Contains(es[0].Message, "could not be read") {
			t.Errorf("audit %+v", es)
		}
		if got := testutil.ToFloat64(e.metrics.recalled); got != 0 {
			t.Errorf("history_recalled %v after a failure", got)
		}
		if got := testutil.ToFloat64(e.metrics.recallFailures); got != 1 {
			t.Errorf("history_recall_failures_total %v", got)
		}
		// Next approval: recalled now; the earlier run's cordon and this
		// one's spend the budget of 2.
		r = e.Execute(t.Context(), approval("p2", cordon("n2")))
		if r.Outcome != OutcomeRefused || r.Reason != ReasonBudget {
			t.Errorf("after the recall: %+v, want budget_spent", r)
		}
		if got := testutil.ToFloat64(e.metrics.recalled); got != 1 {
			t.Errorf("history_recalled %v after a success", got)
		}
	})
}

// TestWritesAreConditional: each write carries the resourceVersion read,
// so a change between the checks and the write is a conflict, after which
// the object is read and checked again. Here the node loses the label the
// allowlist matched just before the cordon: refused as not allowlisted,
// not cordoned. The old patch was unconditional and cordoned it anyway.
func TestWritesAreConditional(t *testing.T) {
	cs := fake.NewClientset(readyNode("n1", "41", map[string]string{"pool": "spare"}))
	gvr := schema.GroupVersionResource{Version: "v1", Resource: "nodes"}
	var patches []string
	cs.PrependReactor("patch", "nodes", func(a k8stesting.Action) (bool, runtime.Object, error) {
		p := a.(k8stesting.PatchActionImpl)
		patches = append(patches, string(p.Patch))
		if isDryRun(a) {
			return true, nil, nil
		}
		// Someone relabels the node between the dry run and the write.
		o, _ := cs.Tracker().Get(gvr, "", "n1")
		n := o.(*corev1.Node).DeepCopy()
		n.Labels = map[string]string{"pool": "serving"}
		n.ResourceVersion = "42"
		if err := cs.Tracker().Update(gvr, n, ""); err != nil {
			t.Error(err)
		}
		var got struct {
			Metadata struct {
				ResourceVersion string `json:"resourceVersion"`
			} `json:"metadata"`
		}
		if err := json.Unmarshal(p.Patch, &got); err != nil || got.Metadata.ResourceVersion != "41" {
			return true, nil, errors.New("unconditional patch applied") // as the API server would
		}
		return true, nil, apierrors.NewConflict(schema.GroupResource{Resource: "nodes"}, "n1", errors.New("the object has been modified"))
	})
	cfg := mustParse(t, "allow: [{action: cordon, selector: pool=spare}]\ngate: {settle: 1m, poll: 10s, maxWait: 10m}\n")
	r := NewExecutor(cs, cfg, ExecutorOptions{}).Execute(t.Context(), approval("p1", cordon("n1")))
	if r.Outcome != OutcomeRefused || r.Reason != ReasonNotAllowlisted {
		t.Errorf("%+v, want not_allowlisted after the conflict (patches %q)", r, patches)
	}
	for _, p := range patches {
		if !strings.Contains(p, `"resourceVersion":"41"`) {
			t.Errorf("patch %s is not conditional on the resourceVersion read", p)
		}
	}

	// A scale carries it in the Scale object.
	replicas := int32(2)
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop", ResourceVersion: "99"},
		Spec:       appsv1.DeploymentSpec{Replicas: &replicas},
	}
	cs = fake.NewClientset(dep)
	var rvs []string
	cs.PrependReactor("update", "deployments", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() != "scale" {
			return false, nil, nil
		}
		s := a.(k8stesting.UpdateActionImpl).Object.(*autoscalingv1.Scale)
		rvs = append(rvs, s.ResourceVersion)
		return true, s, nil
	})
	cfg = mustParse(t, "allow: [{action: scale, namespaces: [\"*\"], minReplicas: 1, maxReplicas: 5}]\n")
	to := int32(3)
	r = NewExecutor(cs, cfg, ExecutorOptions{}).Execute(t.Context(), approval("p2", Action{
		Kind: Scale, Resource: Deployments, Namespace: "shop", Name: "web", Replicas: &to, Observed: Observed{Replicas: &replicas},
	}))
	if r.Outcome != OutcomeExecuted || len(rvs) != 2 || rvs[0] != "99" || rvs[1] != "99" {
		t.Errorf("%+v; the Scale's resourceVersions %q, want 99 for the dry run and the update", r, rvs)
	}
}

// TestStabilityProbe: pods terminating since the last disruptive action
// (an evicted pod still going away) make the cluster unstable; a Pending
// pod does only when it is unschedulable or has been Pending for longer
// than one poll (a pod pulling its image does not hold the gate shut),
// and only if created since the action. The old probe ignored
// terminating pods and counted every new Pending pod.
func TestStabilityProbe(t *testing.T) {
	now := time.Date(2026, 11, 24, 20, 0, 0, 0, time.UTC)
	since := now.Add(-time.Minute)
	pod := func(name string, created time.Time, phase corev1.PodPhase, deleting *time.Time, conds ...corev1.PodCondition) *corev1.Pod {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop", CreationTimestamp: metav1.NewTime(created)},
			Status:     corev1.PodStatus{Phase: phase, Conditions: conds},
		}
		if deleting != nil {
			p.DeletionTimestamp = &metav1.Time{Time: *deleting}
			p.Finalizers = []string{"example.com/keep"}
		}
		return p
	}
	at := func(d time.Duration) *time.Time { t := now.Add(d); return &t }
	unschedulableCond := corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable}
	for _, c := range []struct {
		name string
		pod  *corev1.Pod
		why  string // "" = stable
	}{
		{"running", pod("a", now.Add(-time.Hour), corev1.PodRunning, nil), ""},
		{"evicted, terminating", pod("a", now.Add(-time.Hour), corev1.PodRunning, at(20*time.Second)), "1 pod(s) terminating since the last disruptive action: shop/a"},
		{"stuck terminating from before", pod("a", now.Add(-time.Hour), corev1.PodRunning, at(-time.Hour)), ""},
		{"new, pulling its image", pod("a", now.Add(-3*time.Second), corev1.PodPending, nil), ""},
		{"new, Pending longer than a poll", pod("a", now.Add(-30*time.Second), corev1.PodPending, nil), "1 pod(s) Pending since the last disruptive action: shop/a"},
		{"new, unschedulable", pod("a", now.Add(-time.Second), corev1.PodPending, nil, unschedulableCond), "1 pod(s) Pending since the last disruptive action: shop/a"},
		{"old, unschedulable", pod("a", now.Add(-time.Hour), corev1.PodPending, nil, unschedulableCond), ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			cs := fake.NewClientset(readyNode("n1", "1", nil), c.pod)
			e := NewExecutor(cs, mustParse(t, "allow: [{action: cordon}]\ngate: {settle: 1m, poll: 10s}\n"), ExecutorOptions{Now: func() time.Time { return now }})
			ok, why, err := e.stable(t.Context(), since)
			if err != nil {
				t.Fatal(err)
			}
			if ok != (c.why == "") || why != c.why {
				t.Errorf("stable %v (%q), want %q", ok, why, c.why)
			}
		})
	}
}

// TestResultRetryable: exactly the results that wrote nothing and may
// pass later are retryable.
func TestResultRetryable(t *testing.T) {
	yes := []Result{
		{Outcome: OutcomeRefused, Reason: ReasonBudget},
		{Outcome: OutcomeRefused, Reason: ReasonGate},
		{Outcome: OutcomeRefused, Reason: ReasonCanceled},
		{Outcome: OutcomeRefused, Reason: ReasonPaused},
		{Outcome: OutcomeRefused, Reason: ReasonPDBBlocked},
		{Outcome: OutcomeRefused, Reason: ReasonDryRun},
		{Outcome: OutcomeFailed, Reason: ReasonAPIError},
	}
	no := []Result{
		{Outcome: OutcomeExecuted},
		{Outcome: OutcomeFailed, Reason: ReasonUnknownResult},
		{Outcome: OutcomeRefused, Reason: ReasonDrifted},
		{Outcome: OutcomeRefused, Reason: ReasonGone},
		{Outcome: OutcomeRefused, Reason: ReasonNotAllowlisted},
		{Outcome: OutcomeRefused, Reason: ReasonInvalid},
		{Outcome: OutcomeRefused, Reason: ReasonOutOfBounds},
		{Outcome: OutcomeRefused, Reason: ReasonForbidden},
	}
	for _, r := range yes {
		if !r.Retryable() {
			t.Errorf("%s/%s is not retryable", r.Outcome, r.Reason)
		}
	}
	for _, r := range no {
		if r.Retryable() {
			t.Errorf("%s/%s is retryable", r.Outcome, r.Reason)
		}
	}
}
