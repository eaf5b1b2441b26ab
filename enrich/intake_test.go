package enrich

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// failingQueue refuses every Enqueue with err.
type failingQueue struct{ err error }

func (f failingQueue) Enqueue(context.Context, []Record) ([]Record, error) { return nil, f.err }

func TestIntake(t *testing.T) {
	good, err := os.ReadFile(filepath.Join("testdata", "webhook", "am-0.34-firing.json"))
	if err != nil {
		t.Fatal(err)
	}
	bad, _ := os.ReadFile(filepath.Join("testdata", "webhook", "truncated.bad.json"))
	for _, tc := range []struct {
		name     string
		o        IntakeOptions
		queueErr error
		method   string
		body     string
		auth     func(*http.Request)
		code     int
		msg      string
		stored   int
	}{
		{name: "accepted", body: string(good), code: 200, msg: "stored 2 of 2 alerts", stored: 2},
		{name: "get", method: http.MethodGet, code: 405, msg: "POST"},
		{name: "malformed", body: string(bad), code: 400, msg: "malformed Alertmanager payload"},
		{name: "too large", o: IntakeOptions{MaxBodyBytes: 100}, body: string(good), code: 413, msg: "set max_alerts"},
		{name: "queue full", queueErr: ErrQueueFull, body: string(good), code: 503, msg: "alert queue full"},
		{name: "store error", queueErr: errors.New("disk on fire"), body: string(good), code: 500, msg: "disk on fire"},
		{name: "bearer missing", o: IntakeOptions{BearerToken: "s3cret"}, body: string(good), code: 401, msg: "unauthorized"},
		{
			name: "bearer wrong", o: IntakeOptions{BearerToken: "s3cret"}, body: string(good), code: 401,
			auth: func(r *http.Request) { r.Header.Set("Authorization", "Bearer s3cre") },
		},
		{
			name: "bearer right", o: IntakeOptions{BearerToken: "s3cret"}, body: string(good), code: 200, stored: 2,
			auth: func(r *http.Request) { r.Header.Set("Authorization", "bearer s3cret") },
		},
		{
			name: "basic right", o: IntakeOptions{BasicUser: "am", BasicPassword: "pw"}, body: string(good), code: 200, stored: 2,
			auth: func(r *http.Request) { r.SetBasicAuth("am", "pw") },
		},
		{
			name: "basic wrong user", o: IntakeOptions{BasicUser: "am", BasicPassword: "pw"}, body: string(good), code: 401,
			auth: func(r *http.Request) { r.SetBasicAuth("root", "pw") },
		},
		{
			name: "basic accepted when bearer also configured", o: IntakeOptions{BearerToken: "t", BasicUser: "am", BasicPassword: "pw"},
			body: string(good), code: 200, stored: 2, auth: func(r *http.Request) { r.SetBasicAuth("am", "pw") },
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := openTestQueue(t, filepath.Join(t.TempDir(), "q.db"), QueueOptions{})
			var enq Enqueuer = q
			if tc.queueErr != nil {
				enq = failingQueue{tc.queueErr}
			}
			srv := httptest.NewServer(NewIntake(enq, tc.o, nil, nil))
			defer srv.Close()
			method := tc.method
			if method == "" {
				method = http.MethodPost
			}
			req, _ := http.NewRequest(method, srv.URL+"/api/alerts", strings.NewReader(tc.body))
			req.Header.Set("Content-Type", "application/json")
			if tc.auth != nil {
				tc.auth(req)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.code {
				t.Fatalf("status %d (%s), want %d", resp.StatusCode, body, tc.code)
			}
			if !strings.Contains(string(body), tc.msg) {
				t.Errorf("body %q does not contain %q", body, tc.msg)
			}
			if tc.code == 503 && resp.Header.Get("Retry-After") == "" {
				t.Error("503 without Retry-After")
			}
			// The 2xx came after the write: the records are there now.
			waiting, _ := q.Len()
			if waiting[StageNew] != tc.stored {
				t.Errorf("%d records stored, want %d", waiting[StageNew], tc.stored)
			}
		})
	}
}

// brokenBody fails mid-read, as a connection that drops.
type brokenBody struct{}

func (brokenBody) Read([]byte) (int, error) { return 0, errors.New("connection reset by peer") }

func TestIntakeBrokenBodyIsRetried(t *testing.T) {
	q := openTestQueue(t, filepath.Join(t.TempDir(), "q.db"), QueueOptions{})
	rec := httptest.NewRecorder()
	NewIntake(q, IntakeOptions{}, nil, nil).ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/api/alerts", brokenBody{}))
	if rec.Code < 500 {
		t.Errorf("broken body: %d, want a 5xx so that Alertmanager retries", rec.Code)
	}
}

func TestIntakeIdempotent(t *testing.T) {
	good, _ := os.ReadFile(filepath.Join("testdata", "webhook", "am-0.34-firing.json"))
	q := openTestQueue(t, filepath.Join(t.TempDir(), "q.db"), QueueOptions{})
	h := NewIntake(q, IntakeOptions{}, nil, nil)
	for i, want := range []string{"stored 2 of 2", "stored 0 of 2 alerts (2 duplicates)"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/api/alerts", strings.NewReader(string(good))))
		if rec.Code != 200 || !strings.Contains(rec.Body.String(), want) {
			t.Errorf("send %d: %d %q, want 200 %q", i, rec.Code, rec.Body, want)
		}
	}
}
