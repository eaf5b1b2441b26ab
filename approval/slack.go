package approval

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Slack request headers.
const (
	HeaderSlackSignature = "X-Slack-Signature"
	HeaderSlackTimestamp = "X-Slack-Request-Timestamp"
	// HeaderSlackRetryNum is set on Slack's redeliveries (1, 2, 3) of a
	// request that was not answered within 3 seconds.
	HeaderSlackRetryNum = "X-Slack-Retry-Num"
)

// SlackWindow is how far a request's timestamp may be from now: Slack's
// documented replay window.
const SlackWindow = 5 * time.Minute

// Errors of VerifySlack.
var (
	ErrSlackUnsigned  = errors.New("slack request without X-Slack-Signature or X-Slack-Request-Timestamp")
	ErrSlackStale     = errors.New("slack request timestamp outside the 5-minute window: a replay, or this host's clock is off (check NTP)")
	ErrSlackSignature = errors.New("slack request signature does not match: check --slack-signing-secret-file (the app's Signing Secret, not its token)")
)

// SlackSignature returns Slack's v0 signature of a request:
//
//	"v0=" + hex(HMAC-SHA256(signing secret, "v0:" + timestamp + ":" + body))
func SlackSignature(secret []byte, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("v0:" + timestamp + ":"))
	m.Write(body)
	return "v0=" + hex.EncodeToString(m.Sum(nil))
}

// VerifySlack checks a request from Slack: both headers present, the
// timestamp within SlackWindow of now, and the v0 signature over the raw
// body, compared in constant time.
func VerifySlack(secret []byte, h http.Header, body []byte, now time.Time) error {
	sig, ts := h.Get(HeaderSlackSignature), h.Get(HeaderSlackTimestamp)
	if sig == "" || ts == "" {
		return ErrSlackUnsigned
	}
	secs, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: timestamp %.20q is not Unix seconds", ErrSlackStale, ts)
	}
	if d := now.Sub(time.Unix(secs, 0)); d > SlackWindow || d < -SlackWindow {
		return fmt.Errorf("%w (off by %s)", ErrSlackStale, d.Round(time.Second))
	}
	hexSig, ok := strings.CutPrefix(sig, "v0=")
	if !ok {
		return fmt.Errorf("%w: not a v0 signature", ErrSlackSignature)
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil {
		return fmt.Errorf("%w: not hex", ErrSlackSignature)
	}
	want, _ := hex.DecodeString(strings.TrimPrefix(SlackSignature(secret, ts, body), "v0="))
	if !hmac.Equal(got, want) {
		return ErrSlackSignature
	}
	return nil
}

// Interaction is what Foresight reads of Slack's block_actions payload.
type Interaction struct {
	UserID, UserName string
	// TeamID is the Slack workspace the click came from.
	TeamID          string
	ActionID, Value string
	ResponseURL     string
	ChannelID       string
	// MessageTS is the ts of the message holding the buttons; ThreadTS the
	// thread it is in ("" when it is a thread's root).
	MessageTS, ThreadTS string
}

// Thread returns the ts to reply under: the message's thread, or the
// message itself.
func (in Interaction) Thread() string {
	if in.ThreadTS != "" {
		return in.ThreadTS
	}
	return in.MessageTS
}

// Identity names the user for the audit: "slack:U123 (alice)".
func (in Interaction) Identity() string {
	if in.UserName == "" {
		return "slack:" + in.UserID
	}
	return "slack:" + in.UserID + " (" + in.UserName + ")"
}

// ErrPayload marks an unreadable interaction payload.
var ErrPayload = errors.New("slack interaction payload")

// ParseInteraction reads a block_actions request body
// (application/x-www-form-urlencoded with the JSON in field "payload").
func ParseInteraction(body []byte) (Interaction, error) {
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return Interaction{}, fmt.Errorf("%w: form: %w", ErrPayload, err)
	}
	raw := form.Get("payload")
	if raw == "" {
		return Interaction{}, fmt.Errorf("%w: no payload field", ErrPayload)
	}
	var p struct {
		Type string `json:"type"`
		Team struct {
			ID string `json:"id"`
		} `json:"team"`
		User struct {
			ID       string `json:"id"`
			Username string `json:"username"`
			Name     string `json:"name"`
			TeamID   string `json:"team_id"`
		} `json:"user"`
		Actions []struct {
			ActionID string `json:"action_id"`
			Value    string `json:"value"`
		} `json:"actions"`
		ResponseURL string `json:"response_url"`
		Channel     struct {
			ID string `json:"id"`
		} `json:"channel"`
		Message struct {
			TS       string `json:"ts"`
			ThreadTS string `json:"thread_ts"`
		} `json:"message"`
		Container struct {
			ChannelID string `json:"channel_id"`
			MessageTS string `json:"message_ts"`
			ThreadTS  string `json:"thread_ts"`
		} `json:"container"`
	}
	if err := json.Unmarshal([]byte(raw), &p); err != nil {
		return Interaction{}, fmt.Errorf("%w: %w", ErrPayload, err)
	}
	if p.Type != "block_actions" {
		return Interaction{}, fmt.Errorf("%w: type %.40q, want block_actions", ErrPayload, p.Type)
	}
	if p.User.ID == "" {
		return Interaction{}, fmt.Errorf("%w: no user id", ErrPayload)
	}
	if len(p.Actions) == 0 {
		return Interaction{}, fmt.Errorf("%w: no action", ErrPayload)
	}
	in := Interaction{
		UserID: p.User.ID, UserName: p.User.Username, TeamID: p.Team.ID,
		ActionID: p.Actions[0].ActionID, Value: p.Actions[0].Value,
		ResponseURL: p.ResponseURL, ChannelID: p.Channel.ID,
		MessageTS: p.Message.TS, ThreadTS: p.Message.ThreadTS,
	}
	if in.UserName == "" {
		in.UserName = p.User.Name
	}
	if in.TeamID == "" {
		in.TeamID = p.User.TeamID
	}
	if in.ChannelID == "" {
		in.ChannelID = p.Container.ChannelID
	}
	if in.MessageTS == "" {
		in.MessageTS = p.Container.MessageTS
	}
	if in.ThreadTS == "" {
		in.ThreadTS = p.Container.ThreadTS
	}
	if in.ResponseURL != "" {
		u, err := url.Parse(in.ResponseURL)
		if err != nil || u.Scheme != "https" && u.Scheme != "http" || u.Host == "" {
			return Interaction{}, fmt.Errorf("%w: response_url is not an http(s) URL", ErrPayload)
		}
	}
	return in, nil
}
