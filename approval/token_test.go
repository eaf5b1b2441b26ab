package approval

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/foresight-aiops/foresight/remediate"
)

var (
	testKey  = []byte("0123456789abcdef0123456789abcdef")
	otherKey = []byte("fedcba9876543210fedcba9876543210")
	t0       = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
)

func testProposal(id string) Proposal {
	return Proposal{
		ID: id, CorrelationID: "a1b2c3d4",
		Action:  remediate.Action{Kind: remediate.RolloutUndo, Resource: remediate.Deployments, Namespace: "shop", Name: "web", ToRevision: 3, Observed: remediate.Observed{UID: "u-1", Revision: 4, TemplateHash: "5d9f8c7b6"}},
		Issued:  t0,
		Expires: t0.Add(time.Hour),
	}
}

const testID = "0123456789abcdef0123456789abcdef"

func mustSign(t testing.TB, key []byte, p Proposal) string {
	t.Helper()
	tok, err := Sign(key, p)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestVerify(t *testing.T) {
	good := mustSign(t, testKey, testProposal(testID))
	payload, sig, _ := strings.Cut(good, ".")
	bad := testProposal("not-hex")
	badTok := mustSign(t, testKey, bad)
	invalid := testProposal(testID)
	invalid.Action.ToRevision = 0
	invalidTok := mustSign(t, testKey, invalid)
	for _, tc := range []struct {
		name  string
		key   []byte
		token string
		now   time.Time
		want  error
	}{
		{"valid", testKey, good, t0.Add(time.Minute), nil},
		{"valid until the last instant", testKey, good, t0.Add(time.Hour - time.Nanosecond), nil},
		{"expired at expiry", testKey, good, t0.Add(time.Hour), ErrExpired},
		{"expired later", testKey, good, t0.Add(48 * time.Hour), ErrExpired},
		{"other key", otherKey, good, t0, ErrForged},
		{"payload edited", testKey, "f" + payload[1:] + "." + sig, t0, ErrForged},
		{"signature edited", testKey, payload + "." + "A" + sig[1:], t0, ErrForged},
		{"signature of another payload", testKey, mustSign(t, otherKey, testProposal(testID)), t0, ErrForged},
		{"empty", testKey, "", t0, ErrMalformed},
		{"no dot", testKey, payload, t0, ErrMalformed},
		{"three parts", testKey, good + ".x", t0, ErrMalformed},
		{"signature not base64", testKey, payload + ".!!!", t0, ErrMalformed},
		{"huge", testKey, strings.Repeat("a", MaxTokenBytes+1), t0, ErrMalformed},
		{"id not hex", testKey, badTok, t0, ErrMalformed},
		{"invalid action", testKey, invalidTok, t0, ErrMalformed},
		{"short key", testKey[:31], good, t0, ErrKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Verify(tc.key, tc.token, tc.now)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Verify: err %v, want %v", err, tc.want)
			}
			if tc.want == nil && (p.ID != testID || p.Action.String() != "kubectl rollout undo deployment/web --to-revision=3 -n shop" || p.Action.Observed.TemplateHash != "5d9f8c7b6") {
				t.Errorf("Verify: got %+v", p)
			}
		})
	}
}

func TestSignShortKey(t *testing.T) {
	if _, err := Sign([]byte("short"), testProposal(testID)); !errors.Is(err, ErrKey) || !strings.Contains(err.Error(), "head -c 32 /dev/urandom") {
		t.Fatalf("Sign with a 5-byte key: %v, want ErrKey saying how to make a key", err)
	}
}

func TestNewID(t *testing.T) {
	a, err := NewID()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewID()
	if len(a) != 32 || a == b {
		t.Fatalf("NewID: %q, %q: want two different 32-hex-digit ids", a, b)
	}
	p := testProposal(a)
	if _, err := Verify(testKey, mustSign(t, testKey, p), t0); err != nil {
		t.Fatalf("a NewID proposal does not verify: %v", err)
	}
}

// FuzzVerify: no input panics Verify; what it accepts was signed with the
// key (re-signing the decoded proposal verifies too), and every error is
// one of the sentinels.
func FuzzVerify(f *testing.F) {
	f.Add(mustSign(f, testKey, testProposal(testID)))
	f.Add(mustSign(f, otherKey, testProposal(testID)))
	f.Add("x.y")
	f.Add("eyJpZCI6IjEifQ.AAAA")
	f.Add("..")
	f.Fuzz(func(t *testing.T, token string) {
		p, err := Verify(testKey, token, t0)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrForged) && !errors.Is(err, ErrExpired) {
				t.Fatalf("Verify(%q): error %v is none of the sentinels", token, err)
			}
			return
		}
		again, err := Sign(testKey, p)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Verify(testKey, again, t0); err != nil {
			t.Fatalf("accepted %q but its re-signed proposal fails: %v", token, err)
		}
	})
}
