package approval

import (
	"errors"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"testing"
	"time"
)

// Slack's worked example from "Verifying requests from Slack"
// (https://api.slack.com/authentication/verifying-requests-from-slack):
// signing secret, timestamp, body and the signature Slack computed.
const (
	slackDocSecret = "8f742231b10e8888abcd99yyyzzz85a5"
	slackDocTS     = "1531420618"
	slackDocBody   = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
	slackDocSig    = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
)

func TestSlackSignatureMatchesSlacksExample(t *testing.T) {
	if got := SlackSignature([]byte(slackDocSecret), slackDocTS, []byte(slackDocBody)); got != slackDocSig {
		t.Fatalf("SlackSignature = %s, want Slack's %s", got, slackDocSig)
	}
}

func TestVerifySlack(t *testing.T) {
	secs, _ := strconv.ParseInt(slackDocTS, 10, 64)
	at := time.Unix(secs, 0)
	hdr := func(sig, ts string) http.Header {
		h := http.Header{}
		if sig != "" {
			h.Set(HeaderSlackSignature, sig)
		}
		if ts != "" {
			h.Set(HeaderSlackTimestamp, ts)
		}
		return h
	}
	for _, tc := range []struct {
		name   string
		secret string
		h      http.Header
		body   string
		now    time.Time
		want   error
	}{
		{"slack's example", slackDocSecret, hdr(slackDocSig, slackDocTS), slackDocBody, at, nil},
		{"4m59s later", slackDocSecret, hdr(slackDocSig, slackDocTS), slackDocBody, at.Add(5*time.Minute - time.Second), nil},
		{"5m01s later: replay", slackDocSecret, hdr(slackDocSig, slackDocTS), slackDocBody, at.Add(5*time.Minute + time.Second), ErrSlackStale},
		{"from the future", slackDocSecret, hdr(slackDocSig, slackDocTS), slackDocBody, at.Add(-6 * time.Minute), ErrSlackStale},
		{"timestamp not a number", slackDocSecret, hdr(slackDocSig, "yesterday"), slackDocBody, at, ErrSlackStale},
		{"body changed", slackDocSecret, hdr(slackDocSig, slackDocTS), slackDocBody + "&x=1", at, ErrSlackSignature},
		{"other secret", "another-signing-secret", hdr(slackDocSig, slackDocTS), slackDocBody, at, ErrSlackSignature},
		{"no v0 prefix", slackDocSecret, hdr(slackDocSig[3:], slackDocTS), slackDocBody, at, ErrSlackSignature},
		{"not hex", slackDocSecret, hdr("v0=zz", slackDocTS), slackDocBody, at, ErrSlackSignature},
		{"truncated", slackDocSecret, hdr(slackDocSig[:20], slackDocTS), slackDocBody, at, ErrSlackSignature},
		{"no signature", slackDocSecret, hdr("", slackDocTS), slackDocBody, at, ErrSlackUnsigned},
		{"no timestamp", slackDocSecret, hdr(slackDocSig, ""), slackDocBody, at, ErrSlackUnsigned},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := VerifySlack([]byte(tc.secret), tc.h, []byte(tc.body), tc.now); !errors.Is(err, tc.want) {
				t.Fatalf("VerifySlack: %v, want %v", err, tc.want)
			}
		})
	}
}

func TestParseInteraction(t *testing.T) {
	raw, err := os.ReadFile("testdata/block_actions.json")
	if err != nil {
		t.Fatal(err)
	}
	in, err := ParseInteraction([]byte("payload=" + url.QueryEscape(string(raw))))
	if err != nil {
		t.Fatal(err)
	}
	want := Interaction{
		UserID: "U045VRZFT", UserName: "alice", TeamID: "T0MJR11A4", ActionID: ActionApprove, Value: "TOKEN",
		ResponseURL: "https://hooks.slack.com/actions/T0MJR11A4/1234567890/abcdefgh", ChannelID: "C0123ALERTS",
		MessageTS: "1732450000.000200", ThreadTS: "1732449990.000100",
	}
	if in != want {
		t.Fatalf("ParseInteraction:\n got %+v\nwant %+v", in, want)
	}
	if in.Thread() != "1732449990.000100" || in.Identity() != "slack:U045VRZFT (alice)" {
		t.Errorf("Thread %q, Identity %q", in.Thread(), in.Identity())
	}

	for _, tc := range []struct{ name, body string }{
		{"empty", ""},
		{"no payload", "token=x"},
		{"not json", "payload=%7B"},
		{"wrong type", "payload=" + url.QueryEscape(`{"type":"view_submission","user":{"id":"U1"},"actions":[{"action_id":"a"}]}`)},
		{"no user", "payload=" + url.QueryEscape(`{"type":"block_actions","actions":[{"action_id":"a"}]}`)},
		{"no actions", "payload=" + url.QueryEscape(`{"type":"block_actions","user":{"id":"U1"},"actions":[]}`)},
		{"response_url not http", "payload=" + url.QueryEscape(`{"type":"block_actions","user":{"id":"U1"},"actions":[{"action_id":"a"}],"response_url":"file:///etc/passwd"}`)},
		{"bad form escape", "payload=%zz"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ParseInteraction([]byte(tc.body)); !errors.Is(err, ErrPayload) {
				t.Fatalf("ParseInteraction(%q): %v, want ErrPayload", tc.body, err)
			}
		})
	}
}

// FuzzParseInteraction: no body panics the parser, and what it accepts
// has a user and an action.
func FuzzParseInteraction(f *testing.F) {
	if raw, err := os.ReadFile("testdata/block_actions.json"); err == nil {
		f.Add("payload=" + url.QueryEscape(string(raw)))
	}
	f.Add("payload=%7B%7D")
	f.Add("payload=" + url.QueryEscape(`{"type":"block_actions","user":{"id":"U1"},"actions":[{"action_id":"foresight_approve","value":"x"}]}`))
	f.Fuzz(func(t *testing.T, body string) {
		in, err := ParseInteraction([]byte(body))
		if err != nil {
			if !errors.Is(err, ErrPayload) {
				t.Fatalf("error %v does not wrap ErrPayload", err)
			}
			return
		}
		if in.UserID == "" {
			t.Fatalf("accepted %q without a user", body)
		}
	})
}
