package enrich

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"

	"github.com/foresight-aiops/foresight/enrich/internal/fakellm"
	"github.com/foresight-aiops/foresight/enrich/kubecontext"
	"github.com/foresight-aiops/foresight/enrich/llm"
	"github.com/foresight-aiops/foresight/enrich/suggest"
)

const labPod = "db-client-5f7c9d8b6-k2j4h"

// labAPIServer answers the API calls of the seed's lab: a busybox pod in
// prod that prints "Connecting to database..." and exits 1, crash looping.
// Its log carries a planted password.
func labAPIServer(t *testing.T) kubernetes.Interface {
	t.Helper()
	pod := &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{Kind: "Pod", APIVersion: "v1"},
		ObjectMeta: metav1.ObjectMeta{Name: labPod, Namespace: "prod"},
		Spec:       corev1.PodSpec{NodeName: "worker-1", Containers: []corev1.Container{{Name: "db-client", Image: "busybox:1.36"}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{
			Name: "db-client", RestartCount: 4,
			State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
			LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Error", ExitCode: 1}},
		}}},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/v1/namespaces/prod/pods/" + labPod:
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(pod)
		case "/api/v1/namespaces/prod/pods/" + labPod + "/log":
			_, _ = w.Write([]byte("Connecting to database...\nusing postgres://app:Sup3rS3cret@db:5432/app\n"))
		default:
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			_ = json.NewEncoder(w).Encode(&metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: "Failure", Reason: metav1.StatusReasonForbidden, Code: 403, Message: "forbidden"})
		}
	}))
	t.Cleanup(srv.Close)
	c, err := kubernetes.NewForConfig(&rest.Config{Host: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func labAlert() Alert {
	return Alert{
		Status: StatusFiring, Fingerprint: "f00d", StartsAt: time.Date(2026, 8, 22, 10, 0, 0, 0, time.UTC),
		Labels:      map[string]string{"alertname": "KubePodCrashLooping", "namespace": "prod", "pod": labPod, "container": "db-client"},
		Annotations: map[string]string{"description": "Pod prod/" + labPod + " is restarting 4 times / 10 minutes."},
	}
}

func labChecker() *suggest.Checker {
	meta := func(name, ns string) metav1.ObjectMeta { return metav1.ObjectMeta{Name: name, Namespace: ns} }
	return suggest.NewChecker(suggest.NewKubeCluster(fake.NewClientset(
		&corev1.Namespace{ObjectMeta: meta("prod", "")},
		&corev1.Pod{ObjectMeta: meta(labPod, "prod")},
		&appsv1.StatefulSet{ObjectMeta: meta("postgres-db", "prod")},
	)))
}

func newLLM(t *testing.T, srv *fakellm.Server, stream bool) *llm.Client {
	t.Helper()
	c, err := llm.New(llm.Options{Endpoint: srv.URL + "/v1", Model: "llama3.1:8b", Temperature: 0.1, MaxTokens: 512, Stream: stream, MinBackoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestSeedLab is the seed's lab as a test: the crash-looping busybox pod
// -> KubePodCrashLooping -> the prompt holds the log line and the exit code
// (and no password) -> the model's two commands are checked against the
// cluster: one real, one hallucinated; an injected pipe is rejected.
func TestSeedLab(t *testing.T) {
	for _, stream := range []bool{false, true} {
		answer := `{"root_cause":"The container exits with code 1 right after \"Connecting to database...\": the database is unreachable.",
		"commands":["kubectl logs ` + labPod + ` -n prod --previous","kubectl describe deployment db-backend -n prod","kubectl get pods -n prod | sh"]}`
		srv := fakellm.New(t, fakellm.Reply{Content: answer})
		an := NewAnalyzer(kubecontext.New(labAPIServer(t), kubecontext.Options{}), newLLM(t, srv, stream), labChecker(), nil, AnalyzerOptions{Model: "llama3.1:8b"}, nil, nil)
		got := an.Analyze(t.Context(), labAlert())
		if got.Error != "" {
			t.Fatalf("stream=%t: %s", stream, got.Error)
		}
		var pb strings.Builder
		for _, m := range srv.Requests[0]["messages"].([]any) {
			pb.WriteString(m.(map[string]any)["content"].(string) + "\n")
		}
		prompt := pb.String()
		for _, want := range []string{"Connecting to database...", "exit code 1", "CrashLoopBackOff", "<<<DATA"} {
			if !strings.Contains(prompt, want) {
				t.Errorf("prompt lacks %q", want)
			}
		}
		if strings.Contains(prompt, "Sup3rS3cret") {
			t.Error("a password from the log reached the model")
		}
		if !strings.Contains(got.RootCause, "Connecting to database") {
			t.Errorf("root cause %q", got.RootCause)
		}
		want := []struct{ verdict, problem string }{
			{suggest.ReadOnly, ""},
			{suggest.UnknownObject, "no deployment db-backend in prod; statefulset postgres-db exists"},
			{suggest.Rejected, "pipe"},
		}
		if len(got.Commands) != len(want) {
			t.Fatalf("commands %+v", got.Commands)
		}
		for i, w := range want {
			c := got.Commands[i]
			if c.Verdict != w.verdict || !strings.Contains(strings.Join(c.Problems, "|"), w.problem) {
				t.Errorf("command %q: %s %v, want %s %q", c.Command, c.Verdict, c.Problems, w.verdict, w.problem)
			}
		}
		// Events and owners were forbidden: said, not hidden.
		if !strings.Contains(strings.Join(got.Unavailable, ";"), "events: forbidden") {
			t.Errorf("unavailable %v lacks the forbidden events", got.Unavailable)
		}
	}
}

func TestAnalyzeOverflowShrinksOnce(t *testing.T) {
	srv := fakellm.New(t, fakellm.Reply{Status: 400, Body: fakellm.VLLMPromptTooLong}, fakellm.Reply{Content: `{"root_cause":"x","commands":[]}`})
	an := NewAnalyzer(kubecontext.New(labAPIServer(t), kubecontext.Options{}), newLLM(t, srv, false), nil, nil, AnalyzerOptions{}, nil, nil)
	got := an.Analyze(t.Context(), labAlert())
	if got.Error != "" || srv.Count() != 2 {
		t.Fatalf("error %q after %d requests, want an answer after 2", got.Error, srv.Count())
	}
	if !strings.Contains(strings.Join(got.Notes, "|"), "budget shrunk") {
		t.Errorf("notes %v do not say the budget shrank", got.Notes)
	}
	// A second overflow is not retried again.
	srv = fakellm.New(t, fakellm.Reply{Status: 400, Body: fakellm.OllamaPromptTooLong})
	got = NewAnalyzer(nil, newLLM(t, srv, false), nil, nil, AnalyzerOptions{}, nil, nil).Analyze(t.Context(), labAlert())
	if got.Error == "" || srv.Count() != 2 {
		t.Errorf("error %q after %d requests, want an error after 2", got.Error, srv.Count())
	}
}

func TestAnalyzeDetectsTruncation(t *testing.T) {
	srv := fakellm.New(t, fakellm.Reply{Content: "The database is down.\n1. `kubectl get pods -n prod`\n2. kubectl rollout restart deployment/api -n prod", PromptTokens: 20})
	got := NewAnalyzer(kubecontext.New(labAPIServer(t), kubecontext.Options{}), newLLM(t, srv, false), nil, nil, AnalyzerOptions{}, nil, nil).Analyze(t.Context(), labAlert())
	notes := strings.Join(got.Notes, "|")
	if !strings.Contains(notes, "cut the prompt silently") {
		t.Errorf("notes %q do not report the truncation", notes)
	}
	if got.RootCause != "The database is down." || len(got.Commands) != 2 || got.Commands[1].Verdict != suggest.NeedsHuman {
		t.Errorf("plain answer parsed as %q %+v", got.RootCause, got.Commands)
	}
}

func TestAnalyzeWithoutClusterOrModel(t *testing.T) {
	srv := fakellm.New(t, fakellm.Reply{Status: 404, Body: fakellm.OllamaModelNotFound})
	got := NewAnalyzer(nil, newLLM(t, srv, false), nil, nil, AnalyzerOptions{}, nil, nil).Analyze(t.Context(), labAlert())
	if !strings.Contains(got.Error, "not found, try pulling it first") {
		t.Errorf("error %q does not pass on Ollama's message", got.Error)
	}
	if !strings.Contains(strings.Join(got.Unavailable, ";"), "no_cluster") {
		t.Errorf("unavailable %v does not say there is no cluster", got.Unavailable)
	}
	text := FormatText(Notification{Kind: KindAnalysis, Alert: labAlert(), Analysis: &got})
	if !strings.Contains(text, "analysis unavailable") || !strings.Contains(text, "context unavailable") {
		t.Errorf("readable form hides the failures:\n%s", text)
	}
}

func TestAnonymizer(t *testing.T) {
	a := NewAnonymizer(map[string]string{"namespace": "prod", "pod": "api-7d9f8b6c5d-x2x9k", "deployment": "api"}, map[string][]string{"node": {"worker.1"}})
	in := `pod prod/api-7d9f8b6c5d-x2x9k of deployment api on worker.1; api-gateway and workerX1 and "api" stay apart`
	hidden := a.Hide(in)
	want := `pod namespace-1/pod-1 of deployment deployment-1 on node-1; api-gateway and workerX1 and "deployment-1" stay apart`
	if hidden != want {
		t.Errorf("Hide:\n got %s\nwant %s", hidden, want)
	}
	if back := a.Reveal(hidden); back != in {
		t.Errorf("Reveal:\n got %s\nwant %s", back, in)
	}
}

// TestSeedLabAnonymized: with anonymisation, no object name reaches the
// model (events and logs included), and the answer's placeholders are put
// back before the commands are checked against the cluster.
func TestSeedLabAnonymized(t *testing.T) {
	answer := `{"root_cause":"pod-1 in namespace-1 cannot reach its database.","commands":["kubectl logs pod-1 -n namespace-1 --previous","kubectl describe pod pod-1 -n namespace-1"]}`
	srv := fakellm.New(t, fakellm.Reply{Content: answer})
	an := NewAnalyzer(kubecontext.New(labAPIServer(t), kubecontext.Options{}), newLLM(t, srv, false), labChecker(), nil, AnalyzerOptions{Anonymize: true}, nil, nil)
	got := an.Analyze(t.Context(), labAlert())
	var pb strings.Builder
	for _, m := range srv.Requests[0]["messages"].([]any) {
		pb.WriteString(m.(map[string]any)["content"].(string))
	}
	prompt := pb.String()
	for _, name := range []string{labPod, "prod", "db-client", "worker-1"} {
		if strings.Contains(prompt, name) {
			t.Errorf("prompt contains %q", name)
		}
	}
	if !strings.Contains(prompt, "Connecting to database...") {
		t.Error("anonymisation lost the evidence")
	}
	if got.RootCause != labPod+" in prod cannot reach its database." {
		t.Errorf("root cause %q", got.RootCause)
	}
	for _, c := range got.Commands {
		if c.Verdict != suggest.ReadOnly || !strings.Contains(c.Command, labPod) {
			t.Errorf("command %q: %s %v", c.Command, c.Verdict, c.Problems)
		}
	}
}
