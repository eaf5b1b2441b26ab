// Package fakellm is a test server speaking the OpenAI chat-completions
// wire protocol as Ollama and vLLM do: JSON answers, server-sent-event
// streams with a final usage chunk, and their error shapes. Answers are
// scripted; no model runs (none can here: no weights).
package fakellm

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// Reply is one scripted answer.
type Reply struct {
	// Content is the assistant message; used when Body is empty.
	Content string
	// PromptTokens is reported in usage; 0 means len(prompt)/4.
	PromptTokens int
	// FinishReason; "" means "stop".
	FinishReason string
	// Status and Body, when Body is set, are sent as they are (errors).
	Status int
	Body   string
	// Stall blocks the answer until the client gives up.
	Stall bool
}

// Server is the fake. Requests holds every decoded request body.
type Server struct {
	*httptest.Server
	mu                    sync.Mutex
	script                []Reply
	Requests              []map[string]any
	inFlight, maxInFlight int
}

// Ollama's and vLLM's error bodies, as they send them.
const (
	OllamaModelNotFound   = `{"error":{"message":"model \"llama3.1:8b\" not found, try pulling it first","type":"not_found_error","param":null,"code":null}}`
	OllamaPromptTooLong   = `{"error":{"message":"the prompt is longer than the context length currently available to the model; shorten the prompt, adjust the context length in settings, or use a model with a longer context length","type":"invalid_request_error","param":null,"code":null}}`
	VLLMMaxTokensTooLarge = `{"error":{"message":"'max_tokens' or 'max_completion_tokens' is too large: 8000. This model's maximum context length is 4096 tokens and your request has 2778 input tokens (8000 > 4096 - 2778). None","type":"BadRequestError","param":null,"code":400}}`
	VLLMPromptTooLong     = `{"error":{"message":"This model's maximum context length is 4096 tokens. However, your request has 5120 input tokens. Please reduce the length of the input messages.","type":"BadRequestError","param":null,"code":400}}`
	VLLMOldTopLevel       = `{"object":"error","message":"This model's maximum context length is 2048 tokens. However, you requested 2600 tokens (2088 in the messages, 512 in the completion). Please reduce the length of the messages or completion.","type":"BadRequestError","param":null,"code":400}`
	VLLMNoJSONSchema      = `{"error":{"message":"response_format json_schema is not supported by this server","type":"BadRequestError","param":"response_format","code":400}}`
	ServerOverloaded      = `{"error":{"message":"server overloaded, retry later","type":"api_error","param":null,"code":null}}`
)

// New starts a server that answers with the script in order (the last
// reply repeats).
func New(t testing.TB, script ...Reply) *Server {
	s := &Server{script: script}
	s.Server = httptest.NewServer(http.HandlerFunc(s.handle))
	t.Cleanup(s.Close)
	return s
}

// MaxInFlight is the most requests the server held at once.
func (s *Server) MaxInFlight() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxInFlight
}

// Count is the number of requests received.
func (s *Server) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.Requests)
}

func (s *Server) handle(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/v1/chat/completions" || r.Method != http.MethodPost {
		http.Error(w, `{"error":{"message":"not found","type":"not_found_error"}}`, http.StatusNotFound)
		return
	}
	var req map[string]any
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"error":{"message":%q,"type":"invalid_request_error"}}`, err.Error())
		return
	}
	s.mu.Lock()
	s.Requests = append(s.Requests, req)
	rep := s.script[min(len(s.Requests), len(s.script))-1]
	s.inFlight++
	s.maxInFlight = max(s.maxInFlight, s.inFlight)
	s.mu.Unlock()
	defer func() { s.mu.Lock(); s.inFlight--; s.mu.Unlock() }()

	if rep.Stall {
		<-r.Context().Done()
		return
	}
	if rep.Body != "" {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(rep.Status)
		_, _ = w.Write([]byte(rep.Body))
		return
	}
	prompt := rep.PromptTokens
	if prompt == 0 {
		b, _ := json.Marshal(req["messages"])
		prompt = len(b) / 4
	}
	finish := rep.FinishReason
	if finish == "" {
		finish = "stop"
	}
	usage := map[string]int{"prompt_tokens": prompt, "completion_tokens": len(rep.Content) / 4, "total_tokens": prompt + len(rep.Content)/4}
	if stream, _ := req["stream"].(bool); stream {
		w.Header().Set("Content-Type", "text/event-stream")
		chunk := func(v any) {
			b, _ := json.Marshal(v)
			fmt.Fprintf(w, "data: %s\n\n", b)
			w.(http.Flusher).Flush()
		}
		// The content in pieces, as tokens arrive.
		for i := 0; i < len(rep.Content); i += 7 {
			piece := rep.Content[i:min(i+7, len(rep.Content))]
			chunk(map[string]any{
				"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": req["model"],
				"choices": []any{map[string]any{"index": 0, "delta": map[string]any{"role": "assistant", "content": piece}, "finish_reason": nil}},
			})
		}
		chunk(map[string]any{
			"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": req["model"],
			"choices": []any{map[string]any{"index": 0, "delta": map[string]any{}, "finish_reason": finish}},
		})
		chunk(map[string]any{"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": req["model"], "choices": []any{}, "usage": usage})
		fmt.Fprint(w, "data: [DONE]\n\n")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": req["model"], "system_fingerprint": "fp_ollama",
		"choices": []any{map[string]any{"index": 0, "message": map[string]any{"role": "assistant", "content": rep.Content}, "finish_reason": finish}},
		"usage":   usage,
	})
}
