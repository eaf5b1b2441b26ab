package charts

import (
	"context"
	"errors"
	"sort"
	"strings"
	"sync"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/foresight-aiops/foresight/enrich"
	"github.com/foresight-aiops/foresight/enrich/kubecontext"
	"github.com/foresight-aiops/foresight/enrich/suggest"
	"github.com/foresight-aiops/foresight/remediate"
)

// recordingClient is a fake clientset that records every call's verb and
// resource, as the API server's authorizer would see them.
type recordingClient struct {
	*fake.Clientset
	mu    sync.Mutex
	calls map[permission]bool
}

func newRecordingClient(objects ...runtime.Object) *recordingClient {
	c := &recordingClient{Clientset: fake.NewClientset(objects...), calls: map[permission]bool{}}
	c.PrependReactor("*", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		res := a.GetResource().Resource
		if sub := a.GetSubresource(); sub != "" {
			res += "/" + sub
		}
		c.mu.Lock()
		c.calls[permission{"*", a.GetResource().Group, res, a.GetVerb()}] = true
		c.mu.Unlock()
		return false, nil, nil
	})
	return c
}

// enrichLab is a namespace with a Deployment of two revisions and its pod
// on a node, a StatefulSet and a DaemonSet: every path of the gatherer,
// the checker and the proposer finds something to read.
func enrichLab() []runtime.Object {
	replicas := int32(2)
	labels := map[string]string{"app": "api", "app.kubernetes.io/part-of": "shop"}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "api", Namespace: "shop", UID: "dep-uid", Labels: labels, Annotations: map[string]string{"deployment.kubernetes.io/revision": "2"}},
		Spec:       appsv1.DeploymentSpec{Replicas: &replicas, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "api"}}},
	}
	controller := true
	owner := []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: "api", UID: "dep-uid", Controller: &controller}}
	rs := func(rev, hash string) *appsv1.ReplicaSet {
		return &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{
			Name: "api-" + hash, Namespace: "shop", UID: types.UID("rs-" + hash), OwnerReferences: owner,
			Labels: map[string]string{"app": "api", "pod-template-hash": hash}, Annotations: map[string]string{"deployment.kubernetes.io/revision": rev},
		}}
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: "api-b2-x7k", Namespace: "shop", Labels: map[string]string{"app": "api"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "api-b2", UID: "rs-b2", Controller: &controller}},
		},
		Spec: corev1.PodSpec{NodeName: "worker-1", Containers: []corev1.Container{{Name: "app", Image: "shop/api:2"}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{
			Name: "app", RestartCount: 3, LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, Reason: "Error"}},
		}}},
	}
	return []runtime.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}},
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "worker-1", Labels: map[string]string{"node-role.kubernetes.io/worker": ""}}},
		dep, rs("1", "a1"), rs("2", "b2"), pod,
		&corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "api-b2-x7k.1", Namespace: "shop"}, InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "api-b2-x7k", Namespace: "shop"}, Reason: "BackOff", Message: "Back-off restarting failed container"},
		&appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "shop", UID: "sts-uid", Labels: labels}, Spec: appsv1.StatefulSetSpec{Replicas: &replicas}},
		&appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: "shop", UID: "ds-uid", Labels: labels}},
	}
}

// suggestKinds are the plural kinds suggest's checker knows (its kinds
// table): Names is asked for each, as a command naming one would.
var suggestKinds = []string{
	"pods", "deployments", "statefulsets", "daemonsets", "replicasets", "services", "configmaps", "secrets", "jobs", "cronjobs",
	"ingresses", "persistentvolumeclaims", "horizontalpodautoscalers", "endpoints", "serviceaccounts", "events", "nodes", "namespaces", "persistentvolumes",
}

// TestEnrichRBACCoversCalls runs the code foresight enrich reads the
// cluster with (the context gatherer on a pod's alert and on a workload's,
// the command checker on every kind it knows, the proposer on every
// action the approver executes) against a client that records each call,
// and compares the calls with the chart's ClusterRole: every call must be
// granted (else that context would be "forbidden" in every cluster), and
// every grant must be called (else the chart gives more than the code
// uses). The reads must stay within get, list and watch, never Secrets:
// a new call outside them is a design change, not a chart change.
func TestEnrichRBACCoversCalls(t *testing.T) {
	ctx := context.Background()
	client := newRecordingClient(enrichLab()...)

	g := kubecontext.New(client, kubecontext.Options{})
	for _, labels := range []map[string]string{
		{"namespace": "shop", "pod": "api-b2-x7k", "container": "app", "node": "worker-1"},
		{"namespace": "shop", "deployment": "api", "statefulset": "db", "daemonset": "agent"},
	} {
		r := g.Gather(ctx, labels)
		for _, u := range r.Unavailable {
			if u.Reason == "forbidden" || u.Reason == "error" {
				t.Errorf("gather %v: %s", labels, u)
			}
		}
	}

	cluster := suggest.NewKubeCluster(client)
	if _, err := cluster.Namespaces(ctx); err != nil {
		t.Fatal(err)
	}
	for _, kind := range suggestKinds {
		ns := "shop"
		if kind == "nodes" || kind == "namespaces" || kind == "persistentvolumes" {
			ns = ""
		}
		if _, err := cluster.Names(ctx, kind, ns); err != nil && !errors.Is(err, suggest.ErrNotChecked) {
			t.Errorf("Names(%s): %v", kind, err)
		}
	}
	checker := suggest.NewChecker(cluster)
	_ = checker.Check(ctx, "kubectl describe deployment apii -n shop", "shop") // a near miss lists the other kinds

	cfg, err := remediate.Parse(strings.NewReader(`allow:
  - {action: rollout-restart, namespaces: ["*"]}
  - {action: rollout-undo, namespaces: ["*"]}
  - {action: scale, namespaces: ["*"], minReplicas: 1, maxReplicas: 10}
  - {action: cordon}
  - {action: uncordon}
  - {action: evict, namespaces: ["*"]}
`))
	if err != nil {
		t.Fatal(err)
	}
	p, err := enrich.NewProposer(client, enrich.ProposerOptions{Config: cfg, Key: []byte("0123456789abcdef0123456789abcdef-calls"), ApproverURL: "https://approve.example.com"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	an := enrich.Analysis{}
	commands := []string{
		"kubectl rollout restart deployment/api -n shop",
		"kubectl rollout restart statefulset/db -n shop",
		"kubectl rollout restart daemonset/agent -n shop",
		"kubectl rollout undo deployment/api -n shop",
		"kubectl scale deployment/api --replicas=4 -n shop",
		"kubectl scale statefulset/db --replicas=3 -n shop",
		"kubectl cordon worker-1",
	}
	for _, c := range commands {
		an.Commands = append(an.Commands, enrich.CheckedCommand{Command: c, Verdict: suggest.NeedsHuman})
	}
	p.Propose(ctx, "fp-1", "shop", &an)
	if len(an.Proposals) != len(commands) {
		t.Errorf("%d proposals for %d commands (notes %v): the proposer's reads were not all exercised", len(an.Proposals), len(commands), an.Notes)
	}

	rel := render(t, Options{ValueFiles: []string{enrichValues}})
	granted := enrichGrants(t, rel.Enrich, rel.Deployment.Namespace)
	var missing, unused []string
	for c := range client.calls {
		if !granted[c] {
			missing = append(missing, c.String())
		}
	}
	for g := range granted {
		if !client.calls[g] {
			unused = append(unused, g.String())
		}
	}
	sort.Strings(missing)
	sort.Strings(unused)
	for _, m := range missing {
		t.Errorf("foresight enrich calls %s, which the chart's ClusterRole does not grant (foresight.enrich.rules)", m)
	}
	for _, u := range unused {
		t.Errorf("the chart grants %s, which foresight enrich never calls: remove it from foresight.enrich.rules", u)
	}
	if len(client.calls) < 10 {
		t.Errorf("only %d distinct calls recorded: %v", len(client.calls), client.calls)
	}
}
