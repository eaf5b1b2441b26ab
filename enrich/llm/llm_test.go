package llm

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/foresight-aiops/foresight/enrich/internal/fakellm"
)

var schema = map[string]any{"type": "object", "properties": map[string]any{"root_cause": map[string]any{"type": "string"}}, "required": []string{"root_cause"}}

func client(t *testing.T, url string, o Options) *Client {
	t.Helper()
	o.Endpoint, o.Model = url+"/v1", "llama3.1:8b"
	if o.MinBackoff == 0 {
		o.MinBackoff = time.Millisecond
	}
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCompleteSendsExplicitParameters(t *testing.T) {
	for _, stream := range []bool{false, true} {
		srv := fakellm.New(t, fakellm.Reply{Content: `{"root_cause":"bad config"}`, PromptTokens: 321})
		c := client(t, srv.URL, Options{Temperature: 0.2, MaxTokens: 300, Stream: stream})
		resp, err := c.Complete(t.Context(), Request{System: "sys", User: "alert", Schema: schema, SchemaName: "analysis"})
		if err != nil {
			t.Fatalf("stream=%t: %v", stream, err)
		}
		if resp.Content != `{"root_cause":"bad config"}` || resp.PromptTokens != 321 || resp.Format != FormatJSONSchema || resp.FinishReason != "stop" {
			t.Errorf("stream=%t: got %+v", stream, resp)
		}
		req := srv.Requests[0]
		rf, _ := req["response_format"].(map[string]any)
		if req["temperature"] != 0.2 || req["max_tokens"] != 300.0 || rf["type"] != "json_schema" || req["model"] != "llama3.1:8b" {
			t.Errorf("stream=%t: request %v lacks explicit temperature, max_tokens or json_schema", stream, req)
		}
		if _, ok := req["tool_choice"]; ok {
			t.Error("tool_choice sent (Ollama does not support it)")
		}
	}
}

func TestFormatFallback(t *testing.T) {
	srv := fakellm.New(t,
		fakellm.Reply{Status: 400, Body: fakellm.VLLMNoJSONSchema},
		fakellm.Reply{Status: 400, Body: `{"error":{"message":"response_format json_object unsupported","type":"invalid_request_error"}}`},
		fakellm.Reply{Content: `{"root_cause":"x"}`},
	)
	c := client(t, srv.URL, Options{})
	resp, err := c.Complete(t.Context(), Request{User: "u", Schema: schema, SchemaName: "a"})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Format != FormatPlain || srv.Count() != 3 {
		t.Fatalf("format %s after %d requests, want plain after 3", resp.Format, srv.Count())
	}
	if _, ok := srv.Requests[2]["response_format"]; ok {
		t.Error("plain fallback still sent response_format")
	}
	// The working format is remembered.
	if _, err := c.Complete(t.Context(), Request{User: "u", Schema: schema, SchemaName: "a"}); err != nil || srv.Count() != 4 {
		t.Errorf("second request: %v after %d requests, want one more", err, srv.Count())
	}
}

func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		name           string
		script         []fakellm.Reply
		requests       int
		window, prompt int  // for overflows
		overflow       bool // a *ContextOverflowError
		status         int  // else an *APIError with this status
		ok             bool
	}{
		{name: "ollama model not pulled", script: []fakellm.Reply{{Status: 404, Body: fakellm.OllamaModelNotFound}}, requests: 1, status: 404},
		{name: "ollama prompt too long", script: []fakellm.Reply{{Status: 400, Body: fakellm.OllamaPromptTooLong}}, requests: 1, overflow: true},
		{name: "vllm max_tokens too large", script: []fakellm.Reply{{Status: 400, Body: fakellm.VLLMMaxTokensTooLarge}}, requests: 1, overflow: true, window: 4096, prompt: 2778},
		{name: "vllm prompt too long", script: []fakellm.Reply{{Status: 400, Body: fakellm.VLLMPromptTooLong}}, requests: 1, overflow: true, window: 4096, prompt: 5120},
		{name: "vllm old top-level error", script: []fakellm.Reply{{Status: 400, Body: fakellm.VLLMOldTopLevel}}, requests: 1, overflow: true, window: 2048, prompt: 2088},
		{name: "openai code", script: []fakellm.Reply{{Status: 400, Body: `{"error":{"message":"too long","type":"invalid_request_error","code":"context_length_exceeded"}}`}}, requests: 1, overflow: true},
		{name: "5xx retried then ok", script: []fakellm.Reply{{Status: 503, Body: fakellm.ServerOverloaded}, {Status: 500, Body: "boom"}, {Content: "fine"}}, requests: 3, ok: true},
		{name: "5xx gives up", script: []fakellm.Reply{{Status: 502, Body: "<html>bad gateway</html>"}}, requests: 3, status: 502},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := fakellm.New(t, tc.script...)
			_, err := client(t, srv.URL, Options{}).Complete(t.Context(), Request{User: "u"})
			if srv.Count() != tc.requests {
				t.Errorf("%d requests, want %d", srv.Count(), tc.requests)
			}
			if tc.ok {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var o *ContextOverflowError
			var ae *APIError
			switch {
			case tc.overflow:
				if !errors.As(err, &o) {
					t.Fatalf("%v, want a *ContextOverflowError", err)
				}
				if o.Window != tc.window || o.Prompt != tc.prompt {
					t.Errorf("window %d prompt %d, want %d %d", o.Window, o.Prompt, tc.window, tc.prompt)
				}
			case !errors.As(err, &ae) || ae.StatusCode != tc.status:
				t.Fatalf("%v, want an *APIError with status %d", err, tc.status)
			}
		})
	}
}

func TestTimeoutAndConcurrency(t *testing.T) {
	srv := fakellm.New(t, fakellm.Reply{Stall: true})
	c := client(t, srv.URL, Options{Timeout: 50 * time.Millisecond, Attempts: 2})
	if _, err := c.Complete(t.Context(), Request{User: "u"}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("stalled server: %v, want a deadline error", err)
	}
	if srv.Count() != 2 {
		t.Errorf("%d attempts, want 2 (a timeout is retried)", srv.Count())
	}

	srv = fakellm.New(t, fakellm.Reply{Content: "ok"})
	c = client(t, srv.URL, Options{Concurrency: 1})
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() { _, _ = c.Complete(t.Context(), Request{User: "u"}) })
	}
	wg.Wait()
	if srv.MaxInFlight() != 1 || srv.Count() != 6 {
		t.Errorf("max in flight %d over %d requests, want 1 over 6", srv.MaxInFlight(), srv.Count())
	}
}
