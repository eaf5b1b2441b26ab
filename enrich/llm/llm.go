// Package llm is a client for OpenAI-compatible chat-completions servers
// (Ollama, vLLM, LocalAI, llama.cpp's server) built on the openai-go
// library with a base URL, and hardened for local models:
//
//   - explicit temperature and max_tokens on every request (Ollama's
//     compatibility layer otherwise injects temperature 1.0);
//   - response_format json_schema, falling back to json_object and then to
//     a plain prompt when the server refuses one (400 naming the format);
//     the format that worked is remembered;
//   - a timeout per attempt (CPU inference takes 30-60 s; default 120 s),
//     bounded concurrency (a local GPU serves one or two at a time), and
//     retries with exponential backoff on 5xx and transport errors only;
//   - context-overflow errors of vLLM, Ollama and OpenAI recognised as
//     *ContextOverflowError, with the window and prompt size when the
//     message gives them, so that the caller can shrink and retry once;
//   - usage.prompt_tokens returned, so that the caller can detect Ollama's
//     silent truncation to num_ctx.
package llm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"
)

// Options configure a Client. Zero values take the defaults noted.
type Options struct {
	// Endpoint is the base URL of the OpenAI-compatible API, with /v1:
	// http://ollama.monitoring.svc.cluster.local:11434/v1.
	Endpoint string
	Model    string
	// APIKey may be empty: a dummy is sent (Ollama requires one and
	// ignores it).
	APIKey string
	// Temperature is sent as given; 0 is greedy decoding.
	Temperature float64
	// MaxTokens bounds the answer; 0 means 512.
	MaxTokens int
	// Timeout bounds one attempt; 0 means 120 s.
	Timeout time.Duration
	// Concurrency bounds requests in flight; 0 means 1.
	Concurrency int
	// Attempts per request for 5xx and transport errors; 0 means 3.
	Attempts int
	// MinBackoff doubles between attempts with ±50% jitter; 0 means 1 s.
	MinBackoff time.Duration
	// Stream reads the answer as server-sent events (with usage).
	Stream bool
	// HTTPClient; nil means http.DefaultClient.
	HTTPClient *http.Client
}

// Format is the structured-output mode used for a request.
type Format int32

// Formats, from the strictest to none.
const (
	FormatJSONSchema Format = iota
	FormatJSONObject
	FormatPlain
)

func (f Format) String() string {
	return [...]string{"json_schema", "json_object", "plain"}[f]
}

// Request is one chat completion.
type Request struct {
	System, User string
	// Schema is the JSON schema of the answer (for json_schema); nil asks
	// for plain text.
	Schema     map[string]any
	SchemaName string
}

// Response is the model's answer.
type Response struct {
	Content          string
	PromptTokens     int
	CompletionTokens int
	FinishReason     string
	Format           Format
}

// APIError is a non-2xx answer, whatever its shape: OpenAI's and Ollama's
// {"error":{...}}, vLLM's old top-level {"object":"error","message":...},
// or plain text.
type APIError struct {
	StatusCode int
	Message    string
	Type, Code string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("model server answered HTTP %d: %s", e.StatusCode, e.Message)
}

// ContextOverflowError is a prompt that does not fit the model's window.
// Window and Prompt are 0 when the message does not give them.
type ContextOverflowError struct {
	Window, Prompt int
	Err            error
}

func (e *ContextOverflowError) Error() string {
	return "prompt exceeds the model's context window: " + e.Err.Error()
}
func (e *ContextOverflowError) Unwrap() error { return e.Err }

// Client talks to one model.
type Client struct {
	o      Options
	api    openai.Client
	sem    chan struct{}
	format atomic.Int32 // the strictest format known to work
}

// New returns a client; it does not contact the server.
func New(o Options) (*Client, error) {
	if o.Endpoint == "" || o.Model == "" {
		return nil, errors.New("llm: an endpoint and a model are required (--llm-endpoint, --llm-model)")
	}
	if o.APIKey == "" {
		o.APIKey = "dummy"
	}
	if o.MaxTokens <= 0 {
		o.MaxTokens = 512
	}
	if o.Timeout <= 0 {
		o.Timeout = 120 * time.Second
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 1
	}
	if o.Attempts <= 0 {
		o.Attempts = 3
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = time.Second
	}
	hc := o.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	c := &Client{o: o, sem: make(chan struct{}, o.Concurrency)}
	c.api = openai.NewClient(
		option.WithBaseURL(strings.TrimRight(o.Endpoint, "/")+"/"),
		option.WithAPIKey(o.APIKey),
		option.WithHTTPClient(hc),
		option.WithMaxRetries(0), // retries are ours: 5xx and transport only
		option.WithMiddleware(classify),
	)
	return c, nil
}

// classify turns every non-2xx answer into an *APIError, whatever its
// shape (the library only reads {"error":{...}}).
func classify(req *http.Request, next option.MiddlewareNext) (*http.Response, error) {
	resp, err := next(req)
	if err != nil || resp.StatusCode < 300 {
		return resp, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return nil, parseError(resp.StatusCode, body)
}

func parseError(status int, body []byte) error {
	e := &APIError{StatusCode: status}
	var nested struct {
		Error json.RawMessage `json:"error"`
	}
	var obj struct {
		Message string          `json:"message"`
		Type    string          `json:"type"`
		Code    json.RawMessage `json:"code"`
	}
	switch {
	case json.Unmarshal(body, &nested) == nil && len(nested.Error) > 0 && nested.Error[0] == '{' && json.Unmarshal(nested.Error, &obj) == nil:
	case json.Unmarshal(body, &nested) == nil && len(nested.Error) > 0 && nested.Error[0] == '"':
		_ = json.Unmarshal(nested.Error, &obj.Message) // Ollama's native {"error":"..."}
	case json.Unmarshal(body, &obj) == nil && obj.Message != "":
	default:
		obj.Message = strings.TrimSpace(string(body))
	}
	e.Message, e.Type = obj.Message, obj.Type
	e.Code = strings.Trim(string(obj.Code), `"`)
	if e.Message == "" {
		e.Message = http.StatusText(status)
	}
	if o := overflow(e); o != nil {
		return o
	}
	return e
}

var (
	reWindow = regexp.MustCompile(`maximum context length is (\d+) tokens`)
	rePrompt = regexp.MustCompile(`(?:request has |resulted in |you requested \d+ tokens \()(\d+) (?:input )?tokens|\((\d+) in the messages`)
	reVLLM   = regexp.MustCompile(`\(\d+ > (\d+) - (\d+)\)`)
)

// overflow recognises context-length errors: vLLM's old and new messages,
// Ollama's "prompt is longer than the context length", OpenAI's
// context_length_exceeded.
func overflow(e *APIError) *ContextOverflowError {
	m := e.Message
	if e.Code != "context_length_exceeded" && !strings.Contains(m, "maximum context length") &&
		!strings.Contains(m, "longer than the context length") && !strings.Contains(m, "context window") {
		return nil
	}
	o := &ContextOverflowError{Err: e}
	if s := reVLLM.FindStringSubmatch(m); s != nil {
		o.Window, _ = strconv.Atoi(s[1])
		o.Prompt, _ = strconv.Atoi(s[2])
		return o
	}
	if s := reWindow.FindStringSubmatch(m); s != nil {
		o.Window, _ = strconv.Atoi(s[1])
	}
	if s := rePrompt.FindStringSubmatch(m); s != nil {
		for _, g := range s[1:] {
			if g != "" {
				o.Prompt, _ = strconv.Atoi(g)
			}
		}
	}
	return o
}

// formatRefused reports whether err is the server refusing the
// response_format it was sent.
func formatRefused(err error) bool {
	var e *APIError
	if !errors.As(err, &e) || e.StatusCode < 400 || e.StatusCode >= 500 || e.StatusCode == http.StatusNotFound {
		return false
	}
	m := strings.ToLower(e.Message)
	return strings.Contains(m, "response_format") || strings.Contains(m, "json_schema") || strings.Contains(m, "json_object") ||
		strings.Contains(m, "structured") || strings.Contains(m, "grammar") || strings.Contains(m, "format")
}

// Complete sends req, falling back through the response formats, and
// retrying transient failures.
func (c *Client) Complete(ctx context.Context, req Request) (Response, error) {
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return Response{}, fmt.Errorf("waiting for a model slot: %w", context.Cause(ctx))
	}
	defer func() { <-c.sem }()
	f := Format(c.format.Load())
	if req.Schema == nil {
		f = FormatPlain
	}
	for {
		resp, err := c.withRetries(ctx, req, f)
		if err == nil || f == FormatPlain || !formatRefused(err) {
			return resp, err
		}
		f++
		c.format.Store(int32(f))
	}
}

func (c *Client) withRetries(ctx context.Context, req Request, f Format) (Response, error) {
	backoff := c.o.MinBackoff
	var err error
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, c.o.Timeout)
		var resp Response
		resp, err = c.once(actx, req, f)
		timedOut := errors.Is(actx.Err(), context.DeadlineExceeded) && ctx.Err() == nil
		cancel()
		if err == nil {
			return resp, nil
		}
		if timedOut {
			err = fmt.Errorf("no answer within %s (raise --llm-timeout if the model runs on CPU): %w", c.o.Timeout, err)
		}
		var ae *APIError
		transient := ctx.Err() == nil && (!errors.As(err, &ae) || ae.StatusCode >= 500 || ae.StatusCode == http.StatusTooManyRequests)
		if errors.As(err, new(*ContextOverflowError)) {
			transient = false
		}
		if !transient || attempt >= c.o.Attempts {
			return Response{}, err
		}
		t := time.NewTimer(backoff/2 + rand.N(backoff))
		select {
		case <-ctx.Done():
			t.Stop()
			return Response{}, err
		case <-t.C:
		}
		backoff *= 2
	}
}

func (c *Client) params(req Request, f Format) openai.ChatCompletionNewParams {
	p := openai.ChatCompletionNewParams{
		Model:       c.o.Model,
		Temperature: openai.Float(c.o.Temperature),
		MaxTokens:   openai.Int(int64(c.o.MaxTokens)),
	}
	system := req.System
	switch f {
	case FormatJSONSchema:
		p.ResponseFormat.OfJSONSchema = &shared.ResponseFormatJSONSchemaParam{JSONSchema: shared.ResponseFormatJSONSchemaJSONSchemaParam{
			Name: req.SchemaName, Schema: req.Schema, Strict: openai.Bool(true),
		}}
	case FormatJSONObject:
		p.ResponseFormat.OfJSONObject = &shared.ResponseFormatJSONObjectParam{}
	}
	if req.Schema != nil && f != FormatJSONSchema {
		schema, _ := json.Marshal(req.Schema)
		system += "\n\nAnswer with one JSON object only, no prose, matching this JSON schema:\n" + string(schema)
	}
	if system != "" {
		p.Messages = append(p.Messages, openai.SystemMessage(system))
	}
	p.Messages = append(p.Messages, openai.UserMessage(req.User))
	return p
}

func (c *Client) once(ctx context.Context, req Request, f Format) (Response, error) {
	p := c.params(req, f)
	if !c.o.Stream {
		cc, err := c.api.Chat.Completions.New(ctx, p)
		if err != nil {
			return Response{}, err
		}
		if len(cc.Choices) == 0 {
			return Response{}, errors.New("model server answered with no choices")
		}
		return Response{
			Content: cc.Choices[0].Message.Content, FinishReason: cc.Choices[0].FinishReason, Format: f,
			PromptTokens: int(cc.Usage.PromptTokens), CompletionTokens: int(cc.Usage.CompletionTokens),
		}, nil
	}
	p.StreamOptions.IncludeUsage = openai.Bool(true)
	stream := c.api.Chat.Completions.NewStreaming(ctx, p)
	defer stream.Close()
	var b bytes.Buffer
	r := Response{Format: f}
	for stream.Next() {
		ch := stream.Current()
		for _, choice := range ch.Choices {
			b.WriteString(choice.Delta.Content)
			if choice.FinishReason != "" {
				r.FinishReason = choice.FinishReason
			}
		}
		if ch.Usage.PromptTokens > 0 {
			r.PromptTokens, r.CompletionTokens = int(ch.Usage.PromptTokens), int(ch.Usage.CompletionTokens)
		}
	}
	if err := stream.Err(); err != nil {
		return Response{}, err
	}
	r.Content = b.String()
	return r, nil
}
