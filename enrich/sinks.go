package enrich

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// FormatText renders a notification for people: the alert's name, status,
// where it fires and its summary, and the analysis, if any, with each
// command's verdict.
func FormatText(n Notification) string {
	var b strings.Builder
	a := n.Alert
	switch n.Kind {
	case KindAnalysis:
		fmt.Fprintf(&b, "Analysis of %s [%s]\n", a.Name(), n.CorrelationID)
	case KindResolved:
		fmt.Fprintf(&b, "RESOLVED %s [%s]\n", a.Name(), n.CorrelationID)
	default:
		fmt.Fprintf(&b, "FIRING %s [%s]\n", a.Name(), n.CorrelationID)
	}
	if n.Kind != KindAnalysis {
		keys := make([]string, 0, len(a.Labels))
		for k := range a.Labels {
			if k != "alertname" {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = k + "=" + a.Labels[k]
		}
		if len(parts) > 0 {
			fmt.Fprintf(&b, "  labels: %s\n", strings.Join(parts, " "))
		}
		for _, k := range []string{"summary", "description"} {
			if v := a.Annotations[k]; v != "" {
				fmt.Fprintf(&b, "  %s: %s\n", k, v)
			}
		}
		fmt.Fprintf(&b, "  since: %s\n", a.StartsAt.UTC().Format(time.RFC3339))
	}
	an := n.Analysis
	if an == nil {
		return b.String()
	}
	if an.Error != "" {
		fmt.Fprintf(&b, "  analysis unavailable: %s\n", an.Error)
	}
	if an.RootCause != "" {
		fmt.Fprintf(&b, "  root cause: %s\n", an.RootCause)
	}
	for _, c := range an.Commands {
		fmt.Fprintf(&b, "  $ %s   [%s]\n", c.Command, c.Verdict)
		for _, p := range c.Problems {
			fmt.Fprintf(&b, "      ! %s\n", p)
		}
	}
	for _, p := range an.Proposals {
		fmt.Fprintf(&b, "  proposed: %s (expires %s)\n", p.Command, p.Expires.UTC().Format(time.RFC3339))
		if p.URL != "" {
			fmt.Fprintf(&b, "      approve or reject: %s\n", p.URL)
		}
	}
	if len(an.Unavailable) > 0 {
		fmt.Fprintf(&b, "  context unavailable: %s\n", strings.Join(an.Unavailable, "; "))
	}
	for _, note := range an.Notes {
		fmt.Fprintf(&b, "  note: %s\n", note)
	}
	if an.Model != "" {
		fmt.Fprintf(&b, "  (model %s; commands checked, never run)\n", an.Model)
	}
	return b.String()
}

// StdoutSink writes each notification as one JSON line, or in the readable
// form of FormatText.
type StdoutSink struct {
	mu       sync.Mutex
	w        io.Writer
	readable bool
}

// NewStdoutSink writes to w; readable selects FormatText over JSON lines.
func NewStdoutSink(w io.Writer, readable bool) *StdoutSink {
	return &StdoutSink{w: w, readable: readable}
}

// Name implements Sink.
func (s *StdoutSink) Name() string { return "stdout" }

// Send implements Sink.
func (s *StdoutSink) Send(_ context.Context, n Notification) error {
	var out []byte
	if s.readable {
		out = []byte(FormatText(n) + "\n")
	} else {
		var err error
		if out, err = json.Marshal(n); err != nil {
			return Permanent(err)
		}
		out = append(out, '\n')
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, err := s.w.Write(out)
	return err
}

// Header names of the generic webhook.
const (
	HeaderSignature     = "X-Foresight-Signature"
	HeaderTimestamp     = "X-Foresight-Timestamp"
	HeaderCorrelationID = "X-Foresight-Correlation-Id"
)

// WebhookSink POSTs each notification as JSON. With a secret, the request
// carries X-Foresight-Timestamp (Unix seconds) and X-Foresight-Signature:
// "sha256=" + hex(HMAC-SHA256(secret, timestamp + "." + body)), so that a
// receiver can check origin and refuse replays.
type WebhookSink struct {
	url    string
	secret []byte
	client *http.Client
	now    func() time.Time
}

// NewWebhookSink posts to url; secret may be empty (no signature).
func NewWebhookSink(url, secret string, client *http.Client) *WebhookSink {
	if client == nil {
		client = &http.Client{}
	}
	return &WebhookSink{url: url, secret: []byte(secret), client: client, now: time.Now}
}

// Name implements Sink.
func (s *WebhookSink) Name() string { return "webhook" }

// Sign returns the signature of body at timestamp ts.
func Sign(secret []byte, ts string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Send implements Sink.
func (s *WebhookSink) Send(ctx context.Context, n Notification) error {
	body, err := json.Marshal(n)
	if err != nil {
		return Permanent(err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return Permanent(fmt.Errorf("webhook sink request: %w", err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "foresight-enrich")
	req.Header.Set(HeaderCorrelationID, n.CorrelationID)
	if len(s.secret) > 0 {
		ts := strconv.FormatInt(s.now().Unix(), 10)
		req.Header.Set(HeaderTimestamp, ts)
		req.Header.Set(HeaderSignature, Sign(s.secret, ts, body))
	}
	return doHTTP(s.client, req, "webhook sink", nil)
}

// doHTTP sends req and classifies the answer; decode, when not nil, reads
// a 2xx body.
func doHTTP(c *http.Client, req *http.Request, what string, decode func([]byte) error) error {
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		return httpStatusError(what, resp.StatusCode, body, resp.Header.Get("Retry-After"))
	}
	if decode != nil {
		return decode(body)
	}
	return nil
}

// SlackSink posts to Slack, either through an incoming webhook (the
// analysis is a second message that names the alert, since incoming
// webhooks cannot thread) or with a bot token through chat.postMessage,
// where the analysis and the resolution are thread replies to the alert
// (thread_ts is the ts Slack returned for it).
type SlackSink struct {
	webhookURL string
	token      string
	channel    string
	apiURL     string
	client     *http.Client

	mu      sync.Mutex
	threads map[string]string // correlation id -> ts of the alert message
	order   []string          // correlation ids, oldest first, to bound threads
}

// SlackOptions configure a SlackSink: WebhookURL, or Token and Channel.
type SlackOptions struct {
	WebhookURL     string
	Token, Channel string
	// APIURL is Slack's Web API base; "" means https://slack.com/api.
	APIURL string
	Client *http.Client
}

// maxThreads bounds the remembered alert messages.
const maxThreads = 10_000

// NewSlackSink validates o and returns the sink.
func NewSlackSink(o SlackOptions) (*SlackSink, error) {
	switch {
	case o.WebhookURL == "" && o.Token == "":
		return nil, errors.New("slack sink: give an incoming webhook URL or a bot token and channel")
	case o.WebhookURL != "" && o.Token != "":
		return nil, errors.New("slack sink: give either an incoming webhook URL or a bot token, not both")
	case o.Token != "" && o.Channel == "":
		return nil, errors.New("slack sink: a bot token needs a channel (--slack-channel)")
	}
	if o.APIURL == "" {
		o.APIURL = "https://slack.com/api"
	}
	if o.Client == nil {
		o.Client = &http.Client{}
	}
	return &SlackSink{
		webhookURL: o.WebhookURL, token: o.Token, channel: o.Channel,
		apiURL: strings.TrimRight(o.APIURL, "/"), client: o.Client, threads: map[string]string{},
	}, nil
}

// Name implements Sink.
func (s *SlackSink) Name() string { return "slack" }

// Send implements Sink.
func (s *SlackSink) Send(ctx context.Context, n Notification) error {
	text := slackEscape(FormatText(n))
	if s.token == "" {
		body, _ := json.Marshal(map[string]string{"text": text})
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.webhookURL, bytes.NewReader(body))
		if err != nil {
			return Permanent(fmt.Errorf("slack webhook request: %w", err))
		}
		req.Header.Set("Content-Type", "application/json")
		return doHTTP(s.client, req, "slack incoming webhook", nil)
	}
	msg := map[string]any{"channel": s.channel, "text": text, "unfurl_links": false}
	if n.Analysis != nil && len(n.Analysis.Proposals) > 0 {
		// Buttons instead of links: a click carries the Slack user's
		// identity, a link only a self-declared name.
		nb := withButtons(n)
		text = slackEscape(FormatText(nb))
		msg["text"] = text
		msg["blocks"] = slackBlocks(text, nb.Analysis.Proposals)
	}
	if n.Kind != KindAlert {
		s.mu.Lock()
		ts := s.threads[n.CorrelationID]
		s.mu.Unlock()
		if ts != "" {
			msg["thread_ts"] = ts
		}
	}
	body, _ := json.Marshal(msg)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.apiURL+"/chat.postMessage", bytes.NewReader(body))
	if err != nil {
		return Permanent(fmt.Errorf("slack chat.postMessage request: %w", err))
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("Authorization", "Bearer "+s.token)
	return doHTTP(s.client, req, "slack chat.postMessage", func(b []byte) error {
		var r struct {
			OK    bool   `json:"ok"`
			Error string `json:"error"`
			TS    string `json:"ts"`
		}
		if err := json.Unmarshal(b, &r); err != nil {
			return fmt.Errorf("slack chat.postMessage: unreadable answer: %w", err)
		}
		if !r.OK {
			err := fmt.Errorf("slack chat.postMessage: %s", r.Error)
			switch r.Error {
			case "ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout":
				return err
			}
			// invalid_auth, channel_not_found, not_in_channel...: fix the
			// configuration.
			return Permanent(err)
		}
		if n.Kind == KindAlert && r.TS != "" {
			s.remember(n.CorrelationID, r.TS)
		}
		return nil
	})
}

func (s *SlackSink) remember(id, ts string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.threads[id]; !ok {
		s.order = append(s.order, id)
	}
	s.threads[id] = ts
	for len(s.order) > maxThreads {
		delete(s.threads, s.order[0])
		s.order = s.order[1:]
	}
}

// slackEscape escapes the three characters Slack's mrkdwn reserves, so
// that text from alerts and logs cannot ping channels or forge links.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}
