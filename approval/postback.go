package approval

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/foresight-aiops/foresight/remediate"
)

// LinkResult is the JSON the approver POSTs to --result-webhook when a
// link approval or rejection is decided.
type LinkResult struct {
	ProposalID    string            `json:"proposalId"`
	CorrelationID string            `json:"correlationId,omitempty"`
	Command       string            `json:"command"`
	Action        remediate.Action  `json:"action"`
	Approver      string            `json:"approver"`
	Decision      string            `json:"decision"`
	Result        *remediate.Result `json:"result,omitempty"` // nil for a rejection
	Text          string            `json:"text"`
}

func parseForm(body []byte) (url.Values, error) {
	return url.ParseQuery(string(body))
}

// Postback channels (the channel label).
const (
	channelSlackThread = "slack_thread"
	channelResponseURL = "slack_response_url"
	channelWebhook     = "webhook"
	channelNone        = "none"
)

// postBack tells the channel the decision came from what became of it,
// with up to three attempts. It never uses the execution context, which
// Shutdown may have canceled.
func (s *Server) postBack(r request, p Proposal, text string, res *remediate.Result) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var channel string
	var send func(context.Context) error
	switch {
	case r.slack != nil && s.o.SlackToken != "" && r.slack.ChannelID != "":
		channel = channelSlackThread
		send = func(ctx context.Context) error { return s.postSlackThread(ctx, r.slack, text) }
	case r.slack != nil && r.slack.ResponseURL != "":
		channel = channelResponseURL
		send = func(ctx context.Context) error { return s.postResponseURL(ctx, r.slack.ResponseURL, text, false) }
	case r.slack == nil && s.o.ResultWebhook != "":
		channel = channelWebhook
		send = func(ctx context.Context) error {
			return s.postJSON(ctx, s.o.ResultWebhook, "", LinkResult{
				ProposalID: p.ID, CorrelationID: p.CorrelationID, Command: p.Action.String(), Action: p.Action,
				Approver: r.identity, Decision: r.decision, Result: res, Text: text,
			}, nil)
		}
	default:
		s.metrics.postbacks.WithLabelValues(channelNone, "sent").Inc()
		return
	}
	var err error
	for attempt, wait := 1, time.Second; attempt <= 3; attempt, wait = attempt+1, 2*wait {
		if err = send(ctx); err == nil {
			s.metrics.postbacks.WithLabelValues(channel, "sent").Inc()
			return
		}
		if errors.Is(err, errPermanent) || attempt == 3 {
			break
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
	}
	s.metrics.postbacks.WithLabelValues(channel, "failed").Inc()
	s.logger.Error("posting the result back failed; it is in the audit log", "channel", channel, "proposal_id", p.ID, "text", text, "err", err)
}

// respond posts text to a Slack response_url; ephemeral shows it to the
// clicking user only.
func (s *Server) respond(responseURL, text string, ephemeral bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.postResponseURL(ctx, responseURL, text, ephemeral); err != nil {
		s.metrics.postbacks.WithLabelValues(channelResponseURL, "failed").Inc()
		s.logger.Warn("slack response_url", "err", err)
		return
	}
	s.metrics.postbacks.WithLabelValues(channelResponseURL, "sent").Inc()
}

var errPermanent = errors.New("not retried")

func (s *Server) postResponseURL(ctx context.Context, u, text string, ephemeral bool) error {
	typ := "in_channel"
	if ephemeral {
		typ = "ephemeral"
	}
	return s.postJSON(ctx, u, "", map[string]any{"text": slackEscape(text), "replace_original": false, "response_type": typ}, nil)
}

func (s *Server) postSlackThread(ctx context.Context, in *Interaction, text string) error {
	msg := map[string]any{"channel": in.ChannelID, "text": slackEscape(text), "unfurl_links": false}
	if ts := in.Thread(); ts != "" {
		msg["thread_ts"] = ts
	}
	return s.postJSON(ctx, s.o.SlackAPIURL+"/chat.postMessage", s.o.SlackToken, msg, func(b []byte) error {
		var r struct {
			OK    bool   `json:"ok"`
			Error string `json:"error"`
		}
		if err := json.Unmarshal(b, &r); err != nil {
			return fmt.Errorf("slack chat.postMessage: unreadable answer: %w", err)
		}
		if !r.OK {
			switch r.Error {
			case "ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout":
				return fmt.Errorf("slack chat.postMessage: %s", r.Error)
			}
			return fmt.Errorf("slack chat.postMessage: %s (check --slack-token-file and that the bot is in the channel): %w", r.Error, errPermanent)
		}
		return nil
	})
}

func (s *Server) postJSON(ctx context.Context, u, token string, v any, decode func([]byte) error) error {
	body, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("%w: %w", errPermanent, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("post result to %s: %w: %w", redactURL(u), errPermanent, err)
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("User-Agent", "foresight-approver")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := s.o.Client.Do(req)
	if err != nil {
		return fmt.Errorf("post result to %s: %w", redactURL(u), err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	switch {
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return fmt.Errorf("post result to %s: HTTP %d", redactURL(u), resp.StatusCode)
	case resp.StatusCode/100 != 2:
		return fmt.Errorf("post result to %s: HTTP %d: %.200s: %w", redactURL(u), resp.StatusCode, b, errPermanent)
	}
	if decode != nil {
		return decode(b)
	}
	return nil
}

// redactURL keeps a URL's scheme and host: response_url and webhook paths
// are secrets.
func redactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unparsable URL)"
	}
	return p.Scheme + "://" + p.Host + "/..."
}

// slackEscape escapes the characters Slack's mrkdwn reserves.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}
