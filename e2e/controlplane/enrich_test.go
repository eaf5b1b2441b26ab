package controlplane

import (
	"context"
	"strings"
	"testing"
	"time"

	authv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/foresight-aiops/foresight/enrich/kubecontext"
	"github.com/foresight-aiops/foresight/enrich/suggest"
)

// enrichReadOnly is the access `foresight enrich` needs: get/list/watch of
// what explains an alert, never Secrets, never a write.
const enrichReadOnly = `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: foresight-enrich-e2e}
rules:
  - apiGroups: [""]
    resources: [pods, pods/log, events, nodes, namespaces, services, configmaps, endpoints, persistentvolumeclaims, persistentvolumes, serviceaccounts]
    verbs: [get, list, watch]
  - apiGroups: [apps]
    resources: [deployments, replicasets, statefulsets, daemonsets]
    verbs: [get, list, watch]
  - apiGroups: [batch]
    resources: [jobs, cronjobs]
    verbs: [get, list, watch]
  - apiGroups: [autoscaling]
    resources: [horizontalpodautoscalers]
    verbs: [get, list, watch]
  - apiGroups: [events.k8s.io, networking.k8s.io]
    resources: [events, ingresses]
    verbs: [get, list, watch]
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: foresight-enrich, namespace: prod}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: foresight-enrich-e2e}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: foresight-enrich-e2e}
subjects: [{kind: ServiceAccount, name: foresight-enrich, namespace: prod}]
`

// enrichment runs the seed's lab on the real API server: a busybox
// Deployment whose container prints "Connecting to database..." and exits
// 1, crash-looping. There is no kubelet, so the harness writes the pod's
// status and the BackOff event as the kubelet would. Through a
// ServiceAccount that can only get/list/watch, the gatherer must find the
// exit code, the restarts, the event and the owner chain, report the logs
// as unavailable (no kubelet) rather than fail, and be refused Secrets;
// the checker must pass the model's read-only commands on the real pod,
// flag a hallucinated Deployment with the real one, mark a rollout
// restart as needing a human and reject shell composition.
func enrichment(t *testing.T, ctx context.Context, e *env) {
	const ns = "prod"
	if err := e.c.Apply(ctx, "apiVersion: v1\nkind: Namespace\nmetadata: {name: prod}\n---\n"+`apiVersion: apps/v1
kind: Deployment
metadata: {name: db-client, namespace: prod}
spec:
  replicas: 1
  selector: {matchLabels: {app: db-client}}
  template:
    metadata: {labels: {app: db-client}}
    spec:
      containers:
        - name: app
          image: busybox:1.36
          command: [sh, -c, 'echo "Connecting to database..."; sleep 2; exit 1']
---
apiVersion: v1
kind: Secret
metadata: {name: db-password, namespace: prod}
stringData: {password: hunter2-do-not-leak}
---
`+enrichReadOnly); err != nil {
		t.Fatal(err)
	}
	// The Deployment and ReplicaSet controllers make the (Pending) pod.
	var pod *corev1.Pod
	deadline := time.Now().Add(60 * time.Second)
	for pod == nil {
		pods, err := e.c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=db-client"})
		if err != nil {
			t.Fatal(err)
		}
		if len(pods.Items) > 0 {
			pod = &pods.Items[0]
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no pod of Deployment db-client after 60 s")
		}
		time.Sleep(500 * time.Millisecond)
	}
	// What the kubelet would report after five crashes.
	finished := metav1.NewTime(time.Now().Add(-20 * time.Second))
	pod.Status.Phase = corev1.PodRunning
	pod.Status.ContainerStatuses = []corev1.ContainerStatus{{
		Name: "app", Image: "busybox:1.36", RestartCount: 5,
		State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{
			Reason: "CrashLoopBackOff", Message: "back-off 2m40s restarting failed container=app pod=" + pod.Name,
		}},
		LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
			ExitCode: 1, Reason: "Error", FinishedAt: finished, StartedAt: metav1.NewTime(finished.Add(-2 * time.Second)),
		}},
	}}
	if _, err := e.c.Client.CoreV1().Pods(ns).UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("write the pod's status as a kubelet would: %v", err)
	}
	if _, err := e.c.Client.CoreV1().Events(ns).Create(ctx, &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{GenerateName: pod.Name + ".", Namespace: ns},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: pod.Name, UID: pod.UID, APIVersion: "v1"},
		Reason:         "BackOff", Message: "Back-off restarting failed container app in pod " + pod.Name,
		Type: corev1.EventTypeWarning, Count: 5, Source: corev1.EventSource{Component: "kubelet"},
		FirstTimestamp: metav1.NewTime(time.Now().Add(-3 * time.Minute)), LastTimestamp: metav1.Now(),
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	ro := readOnlyClient(t, ctx, e, ns, "foresight-enrich")
	if _, err := ro.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("the enrichment's ServiceAccount can list Secrets (err %v): it must not", err)
	}

	g := kubecontext.New(ro, kubecontext.Options{CallTimeout: 5 * time.Second})
	r := g.Gather(ctx, map[string]string{"alertname": "KubePodCrashLooping", "namespace": ns, "pod": pod.Name, "container": "app"})
	text := kubecontext.Render(r, 4000)
	t.Logf("gathered context:\n%s\nunavailable: %v", text, r.Unavailable)
	for _, want := range []string{"restarts=5", "CrashLoopBackOff", "exit code 1", "Back-off restarting failed container", "db-client"} {
		if !strings.Contains(text, want) {
			t.Errorf("the context lacks %q", want)
		}
	}
	if strings.Contains(text, "hunter2") {
		t.Error("a Secret's value reached the context")
	}
	logs := false
	for _, u := range r.Unavailable {
		if u.Source == "logs" {
			logs = true
		}
		if u.Reason == "forbidden" {
			t.Errorf("forbidden with the read-only role: %v (the role and the gatherer disagree)", u)
		}
	}
	if !logs {
		t.Error("no kubelet serves logs here, yet the logs are not reported unavailable")
	}

	ch := suggest.NewChecker(suggest.NewKubeCluster(ro))
	for _, tc := range []struct{ line, verdict, mention string }{
		{"kubectl logs " + pod.Name + " -n prod --previous", suggest.ReadOnly, ""},
		{"kubectl describe pod " + pod.Name + " -n prod", suggest.ReadOnly, ""},
		{"kubectl describe deployment db-backend -n prod", suggest.UnknownObject, "db-client"},
		{"kubectl get pods -n production", suggest.UnknownObject, "prod"},
		{"kubectl rollout restart deployment/db-client -n prod", suggest.NeedsHuman, ""},
		{"kubectl get pods -n prod | bash", suggest.Rejected, ""},
	} {
		res := ch.Check(ctx, tc.line, ns)
		if res.Verdict != tc.verdict || !strings.Contains(strings.Join(res.Problems, " "), tc.mention) {
			t.Errorf("%q: %s %q, want %s mentioning %q", tc.line, res.Verdict, res.Problems, tc.verdict, tc.mention)
		}
	}
}

// readOnlyClient returns a client authenticated as the ServiceAccount.
func readOnlyClient(t *testing.T, ctx context.Context, e *env, ns, sa string) kubernetes.Interface {
	t.Helper()
	cfg := rest.AnonymousClientConfig(e.c.Config)
	cfg.BearerToken = serviceAccountToken(t, ctx, e, ns, sa)
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// serviceAccountToken returns an hour's token of the ServiceAccount from
// the TokenRequest API, waiting a moment for the account to appear.
func serviceAccountToken(t *testing.T, ctx context.Context, e *env, ns, sa string) string {
	t.Helper()
	var tok *authv1.TokenRequest
	var err error
	for range 20 {
		tok, err = e.c.Client.CoreV1().ServiceAccounts(ns).CreateToken(ctx, sa, &authv1.TokenRequest{
			Spec: authv1.TokenRequestSpec{ExpirationSeconds: new(int64(3600))},
		}, metav1.CreateOptions{})
		if err == nil {
			return tok.Status.Token
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("token for %s/%s: %v", ns, sa, err)
	return ""
}
