// Package approval turns a human's click into an approved remediation: it
// signs the proposals the enrichment makes (HMAC tokens that expire), checks
// the requests that come back (Slack's v0 signatures, or a signed link),
// makes each proposal single use (a bbolt store), serves the approver's HTTP
// endpoints, hands approved actions to an Executor and posts the result back
// where the approval came from.
//
// The token is the capability: whoever holds an unexpired, unused token may
// approve or reject its action, and the approver records who did. A token
// cannot widen what the allowlist permits; the allowlist is checked again
// before anything runs.
package approval

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/foresight-aiops/foresight/remediate"
)

// Proposal is one proposed action, as carried (signed) in a token.
type Proposal struct {
	// ID is random (128 bits, hex); a proposal is executed at most once.
	ID string `json:"id"`
	// CorrelationID names the alert the proposal came from.
	CorrelationID string           `json:"correlationId,omitempty"`
	Action        remediate.Action `json:"action"`
	Issued        time.Time        `json:"issued"`
	Expires       time.Time        `json:"expires"`
}

// Errors of Verify, for callers to branch on (errors.Is).
var (
	// ErrMalformed: not a token (wrong shape, bad base64, bad JSON, an
	// invalid action).
	ErrMalformed = errors.New("malformed approval token")
	// ErrForged: the signature does not match (another key, or edited).
	ErrForged = errors.New("approval token signature does not match: forged or signed with another key")
	// ErrExpired: signed by us, but past its expiry.
	ErrExpired = errors.New("approval token expired")
	// ErrKey: the key is too short to sign with.
	ErrKey = fmt.Errorf("approval key shorter than %d bytes: create one with `head -c 32 /dev/urandom > key`", MinKeyBytes)
)

// MinKeyBytes is the shortest HMAC key accepted: 256 bits, the output size
// of SHA-256 (RFC 2104 section 3 advises keys no shorter than the hash).
const MinKeyBytes = 32

// MaxTokenBytes bounds a token before any decoding is attempted.
const MaxTokenBytes = 8 << 10

var b64 = base64.RawURLEncoding

// NewID returns a random 128-bit proposal id (32 hex digits).
func NewID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("random proposal id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// CheckKey returns ErrKey when key is shorter than MinKeyBytes.
func CheckKey(key []byte) error {
	if len(key) < MinKeyBytes {
		return fmt.Errorf("%w (got %d bytes)", ErrKey, len(key))
	}
	return nil
}

// ReadKeyFile reads an HMAC key file. The key is the file's bytes as they
// are (a trailing newline is removed, so that `echo` and editors do no
// harm), and must be at least MinKeyBytes long.
func ReadKeyFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("approval key file %s does not exist: create one with `head -c 32 /dev/urandom > %s` and give the same file to foresight enrich and foresight approver", path, path)
	}
	if err != nil {
		return nil, fmt.Errorf("read the approval key: %w", err)
	}
	b = bytes.TrimSuffix(bytes.TrimSuffix(b, []byte("\n")), []byte("\r"))
	if err := CheckKey(b); err != nil {
		return nil, fmt.Errorf("approval key file %s: %w", path, err)
	}
	return b, nil
}

// Sign returns the token of p:
//
//	base64url(JSON(p)) + "." + base64url(HMAC-SHA256(key, base64url(JSON(p))))
//
// (base64url without padding, RFC 4648 section 5). The MAC covers the
// encoded payload, so that Verify checks it before decoding anything.
func Sign(key []byte, p Proposal) (string, error) {
	if err := CheckKey(key); err != nil {
		return "", err
	}
	js, err := json.Marshal(p)
	if err != nil {
		return "", fmt.Errorf("encode proposal: %w", err)
	}
	payload := b64.EncodeToString(js)
	return payload + "." + b64.EncodeToString(mac(key, payload)), nil
}

func mac(key []byte, payload string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(payload))
	return m.Sum(nil)
}

// Verify checks token's signature in constant time (hmac.Equal), then its
// content and its expiry against now. Its errors wrap ErrMalformed,
// ErrForged, ErrExpired or ErrKey. An expired token still returns its
// Proposal (for the audit), with ErrExpired.
func Verify(key []byte, token string, now time.Time) (Proposal, error) {
	if err := CheckKey(key); err != nil {
		return Proposal{}, err
	}
	if len(token) > MaxTokenBytes {
		return Proposal{}, fmt.Errorf("%w: %d bytes, more than %d", ErrMalformed, len(token), MaxTokenBytes)
	}
	payload, sig, ok := strings.Cut(token, ".")
	if !ok || payload == "" || sig == "" || strings.Contains(sig, ".") {
		return Proposal{}, fmt.Errorf("%w: want payload.signature", ErrMalformed)
	}
	got, err := b64.DecodeString(sig)
	if err != nil {
		return Proposal{}, fmt.Errorf("%w: signature is not base64url", ErrMalformed)
	}
	if !hmac.Equal(got, mac(key, payload)) {
		return Proposal{}, ErrForged
	}
	js, err := b64.DecodeString(payload)
	if err != nil {
		return Proposal{}, fmt.Errorf("%w: payload is not base64url", ErrMalformed)
	}
	var p Proposal
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return Proposal{}, fmt.Errorf("%w: payload: %w", ErrMalformed, err)
	}
	if len(p.ID) != 32 || strings.Trim(p.ID, "0123456789abcdef") != "" {
		return Proposal{}, fmt.Errorf("%w: proposal id %q is not 32 hex digits", ErrMalformed, p.ID)
	}
	if err := p.Action.Validate(); err != nil {
		return Proposal{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if p.Expires.IsZero() || !p.Expires.After(p.Issued) {
		return Proposal{}, fmt.Errorf("%w: expiry %s not after issue %s", ErrMalformed, p.Expires, p.Issued)
	}
	if !now.Before(p.Expires) {
		return p, fmt.Errorf("%w at %s (proposed %s): ask for a new analysis", ErrExpired, p.Expires.UTC().Format(time.RFC3339), p.Issued.UTC().Format(time.RFC3339))
	}
	return p, nil
}
