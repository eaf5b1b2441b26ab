package enrich

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestWebhookSinkRetriesAndSigns(t *testing.T) {
	var calls atomic.Int32
	sink := newCollector(t, "k", func(w http.ResponseWriter, _ Notification) bool {
		switch calls.Add(1) {
		case 1:
			w.WriteHeader(http.StatusBadGateway)
			return false
		case 2:
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusTooManyRequests)
			return false
		}
		return true
	})
	_, q := startPipeline(t, []Sink{NewWebhookSink(sink.URL, "k", nil)}, nil, IntakeOptions{})
	if _, err := q.Enqueue(context.Background(), records(testAlert(1, StatusFiring))); err != nil {
		t.Fatal(err)
	}
	n := sink.next(t)
	if n.Kind != KindAlert || calls.Load() != 3 {
		t.Errorf("got %s after %d calls, want the alert on the third", n.Kind, calls.Load())
	}
}

func TestWebhookSinkPermanent(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusBadRequest) }))
	defer srv.Close()
	err := NewWebhookSink(srv.URL, "", nil).Send(context.Background(), Notification{Kind: KindAlert})
	if !IsPermanent(err) {
		t.Errorf("400: %v, want a permanent error", err)
	}
}

// slackServer speaks the two Slack protocols: an incoming webhook (answers
// "ok") and chat.postMessage (answers ok and a ts; refuses a bad token).
type slackServer struct {
	*httptest.Server
	mu    sync.Mutex
	posts []map[string]any
}

func newSlackServer(t *testing.T) *slackServer {
	s := &slackServer{}
	ts := 1700000000
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte("invalid_payload"))
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		switch r.URL.Path {
		case "/hook":
			s.posts = append(s.posts, m)
			_, _ = w.Write([]byte("ok"))
		case "/api/chat.postMessage":
			if r.Header.Get("Authorization") != "Bearer xoxb-good" {
				_, _ = w.Write([]byte(`{"ok":false,"error":"invalid_auth"}`))
				return
			}
			ts++
			m["ts"] = strconv.Itoa(ts) + ".000100"
			s.posts = append(s.posts, m)
			_ = json.NewEncoder(w).Encode(map[string]any{"ok": true, "channel": m["channel"], "ts": m["ts"]})
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	t.Cleanup(s.Close)
	return s
}

func TestSlackBotThreadsReplies(t *testing.T) {
	slack := newSlackServer(t)
	s, err := NewSlackSink(SlackOptions{Token: "xoxb-good", Channel: "C123", APIURL: slack.URL + "/api"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	a := testAlert(1, StatusFiring)
	a.Annotations["summary"] = "<!channel> pwned <http://evil|click>"
	for _, n := range []Notification{
		{Kind: KindAlert, CorrelationID: a.CorrelationID(), Alert: a},
		{Kind: KindAnalysis, CorrelationID: a.CorrelationID(), Alert: a, Analysis: &Analysis{RootCause: "bad config"}},
		{Kind: KindResolved, CorrelationID: a.CorrelationID(), Alert: a},
	} {
		if err := s.Send(ctx, n); err != nil {
			t.Fatalf("%s: %v", n.Kind, err)
		}
	}
	slack.mu.Lock()
	posts := slack.posts
	slack.mu.Unlock()
	if len(posts) != 3 {
		t.Fatalf("%d posts, want 3", len(slack.posts))
	}
	alertTS := posts[0]["ts"]
	if _, threaded := posts[0]["thread_ts"]; threaded {
		t.Error("the alert itself must start a thread, not reply")
	}
	for i, p := range posts[1:] {
		if p["thread_ts"] != alertTS {
			t.Errorf("reply %d thread_ts = %v, want the alert's ts %v", i, p["thread_ts"], alertTS)
		}
	}
	if txt := posts[0]["text"].(string); strings.Contains(txt, "<!channel>") || !strings.Contains(txt, "&lt;!channel&gt;") {
		t.Errorf("alert text not escaped for Slack: %q", txt)
	}

	bad, _ := NewSlackSink(SlackOptions{Token: "xoxb-revoked", Channel: "C123", APIURL: slack.URL + "/api"})
	if err := bad.Send(ctx, Notification{Kind: KindAlert, Alert: a}); !IsPermanent(err) || !strings.Contains(err.Error(), "invalid_auth") {
		t.Errorf("revoked token: %v, want a permanent invalid_auth error", err)
	}
}

func TestSlackIncomingWebhook(t *testing.T) {
	slack := newSlackServer(t)
	s, err := NewSlackSink(SlackOptions{WebhookURL: slack.URL + "/hook"})
	if err != nil {
		t.Fatal(err)
	}
	a := testAlert(2, StatusFiring)
	if err := s.Send(context.Background(), Notification{Kind: KindAnalysis, CorrelationID: a.CorrelationID(), Alert: a, Analysis: &Analysis{RootCause: "OOMKilled"}}); err != nil {
		t.Fatal(err)
	}
	if txt := slack.posts[0]["text"].(string); !strings.Contains(txt, "Analysis of KubePodCrashLooping ["+a.CorrelationID()+"]") || !strings.Contains(txt, "OOMKilled") {
		t.Errorf("incoming webhook text %q does not name the alert it answers", txt)
	}
	for _, o := range []SlackOptions{{}, {WebhookURL: "x", Token: "y"}, {Token: "y"}} {
		if _, err := NewSlackSink(o); err == nil {
			t.Errorf("NewSlackSink(%+v) accepted", o)
		}
	}
}

// blockingSink never answers until the test ends.
type blockingSink struct{ release chan struct{} }

func (b blockingSink) Name() string { return "blocked" }
func (b blockingSink) Send(ctx context.Context, _ Notification) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-b.release:
		return nil
	}
}

// scriptedAnalyzer answers after release is closed (or never).
type scriptedAnalyzer struct {
	release chan struct{}
	started chan string
}

func (s scriptedAnalyzer) Analyze(ctx context.Context, a Alert) Analysis {
	if s.started != nil {
		s.started <- a.CorrelationID()
	}
	select {
	case <-ctx.Done():
		return Analysis{Error: context.Cause(ctx).Error()}
	case <-s.release:
		return Analysis{RootCause: "root cause of " + a.Labels["pod"], Model: "scripted"}
	}
}

// TestRawFirstAnalysisAfter: a sink that hangs does not delay another; the
// raw alert arrives while the model is still thinking, and the analysis
// follows with the same correlation id.
func TestRawFirstAnalysisAfter(t *testing.T) {
	sink := newCollector(t, "", nil)
	hang := blockingSink{release: make(chan struct{})}
	t.Cleanup(func() { close(hang.release) })
	an := scriptedAnalyzer{release: make(chan struct{}), started: make(chan string, 10)}
	_, q := startPipeline(t, []Sink{hang, NewWebhookSink(sink.URL, "", nil)}, an, IntakeOptions{})
	a := testAlert(3, StatusFiring)
	if _, err := q.Enqueue(context.Background(), records(a)); err != nil {
		t.Fatal(err)
	}
	raw := sink.next(t)
	if raw.Kind != KindAlert {
		t.Fatalf("first message %s, want the raw alert", raw.Kind)
	}
	// The analysis cannot start before the raw alert is finished on every
	// sink, including the hanging one: release it, then the model.
	select {
	case id := <-an.started:
		t.Fatalf("analysis of %s started before the hanging sink finished the raw alert", id)
	default:
	}
	hang.release <- struct{}{}
	<-an.started
	close(an.release)
	got := sink.next(t)
	if got.Kind != KindAnalysis || got.CorrelationID != raw.CorrelationID || got.Analysis == nil || got.Analysis.RootCause != "root cause of api-3" {
		t.Fatalf("second message %+v, want the analysis of the alert", got)
	}
}

func TestResolvedCancelsAnalysis(t *testing.T) {
	sink := newCollector(t, "", nil)
	an := scriptedAnalyzer{release: make(chan struct{}), started: make(chan string, 10)}
	t.Cleanup(func() { close(an.release) })
	_, q := startPipeline(t, []Sink{NewWebhookSink(sink.URL, "", nil)}, an, IntakeOptions{})
	ctx := context.Background()
	if _, err := q.Enqueue(ctx, records(testAlert(4, StatusFiring))); err != nil {
		t.Fatal(err)
	}
	if n := sink.next(t); n.Kind != KindAlert {
		t.Fatalf("got %s, want the alert", n.Kind)
	}
	<-an.started // the model is working on it
	if _, err := q.Enqueue(ctx, records(testAlert(4, StatusResolved))); err != nil {
		t.Fatal(err)
	}
	if n := sink.next(t); n.Kind != KindResolved {
		t.Fatalf("got %s, want the resolution", n.Kind)
	}
	// The canceled analysis is not delivered: the queue drains with no
	// further message.
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(5 * time.Millisecond) {
		waiting, taken := q.Len()
		if waiting[StageNew]+waiting[StageRaw]+taken == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the canceled analysis never finished")
		}
	}
	select {
	case n := <-sink.got:
		t.Fatalf("got a %s after the resolution", n.Kind)
	default:
	}
}

// TestHoldRaw: with HoldRaw, a quick analysis goes out in one message with
// its alert; a slow one lets the raw alert go at the deadline, and follows
// as a reply.
func TestHoldRaw(t *testing.T) {
	sink := newCollector(t, "", nil)
	q := openTestQueue(t, filepath.Join(t.TempDir(), "q.db"), QueueOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	an := scriptedAnalyzer{release: make(chan struct{}), started: make(chan string, 10)}
	d := NewDispatcher(ctx, []Sink{NewWebhookSink(sink.URL, "", nil)}, DispatchOptions{}, nil, nil)
	p := NewPipeline(q, d, an, nil, PipelineOptions{HoldRaw: 300 * time.Millisecond, AnalysisWorkers: 1}, nil, nil)
	done := make(chan struct{})
	go func() { p.Run(ctx); d.Wait(); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	// Slow: the model is held until the raw alert has gone out alone.
	if _, err := q.Enqueue(ctx, []Record{{Received: time.Now(), Alert: testAlert(1, StatusFiring)}}); err != nil {
		t.Fatal(err)
	}
	<-an.started
	raw := sink.next(t)
	if raw.Kind != KindAlert || raw.Analysis != nil {
		t.Fatalf("at the deadline got %s with analysis %v, want the raw alert alone", raw.Kind, raw.Analysis)
	}
	close(an.release)
	reply := sink.next(t)
	if reply.Kind != KindAnalysis || reply.CorrelationID != raw.CorrelationID {
		t.Fatalf("got %s, want the analysis as a reply", reply.Kind)
	}

	// Quick: the model answers at once; one message carries both.
	if _, err := q.Enqueue(ctx, []Record{{Received: time.Now(), Alert: testAlert(2, StatusFiring)}}); err != nil {
		t.Fatal(err)
	}
	one := sink.next(t)
	if one.Kind != KindAlert || one.Analysis == nil || one.Analysis.RootCause != "root cause of api-2" {
		t.Fatalf("got %s with analysis %v, want the alert with its analysis", one.Kind, one.Analysis)
	}
	if !strings.Contains(FormatText(one), "FIRING") || !strings.Contains(FormatText(one), "root cause: root cause of api-2") {
		t.Errorf("combined text:\n%s", FormatText(one))
	}
	// Nothing else follows for it: the queue drains and no raw copy comes
	// at the deadline.
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(5 * time.Millisecond) {
		w, taken := q.Len()
		if w[StageNew]+w[StageRaw]+taken == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("queue did not drain")
		}
	}
	select {
	case n := <-sink.got:
		t.Errorf("extra %s after the combined message", n.Kind)
	case <-time.After(500 * time.Millisecond):
	}
}
