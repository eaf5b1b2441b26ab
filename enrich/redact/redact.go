// Package redact removes secrets from text before it leaves the process:
// to a language model or to a sink. It is pure: no I/O, no state.
//
// Rules, in order (each replaces the secret with [REDACTED:kind] and keeps
// the surrounding words, so that the text still reads):
//
//   - private_key: PEM private-key blocks, also when the END line was cut
//     off (the rest of the text is dropped);
//   - jwt: three base64url parts, the first two starting with "eyJ";
//   - cloud_key and token: key shapes with fixed prefixes (AWS AKIA/ASIA,
//     Google AIza, GitHub ghp_/github_pat_, Slack xox?-, Stripe sk_live_,
//     OpenAI-style sk-, GitLab glpat-);
//   - bearer: the credentials after "Bearer" or "Basic" (Authorization
//     headers, curl lines);
//   - url_password: the password of user:password@ in any URL or
//     connection URI (postgres://, mongodb+srv://, amqp://, redis://...);
//   - key_value: the value of key=value, key: value and "key": "value" when
//     the key names a secret (password, passwd, pwd, secret, token,
//     api_key, access_key, credential, auth, private_key, client_secret,
//     AccountKey, SharedAccessKey...), also inside connection strings;
//   - private_key also covers a whole line of 60 or more base64
//     characters: a PEM body line seen without its BEGIN line;
//   - high_entropy: a run of 24 or more base64 characters with letters and
//     digits whose Shannon entropy H = -Σ p(c)·log2 p(c) over its characters
//     is at least 4.0 bits per character (random base64 has about 5.5 at
//     this length; English words and most identifiers are under 3.5). Pure
//     hex runs (image digests, commit ids) are kept: they identify versions
//     and at most 4 bits per character means they would be a guess anyway.
package redact

import (
	"math"
	"regexp"
	"strings"
)

// Finding is one redaction.
type Finding struct {
	Kind string
}

type rule struct {
	kind string
	re   *regexp.Regexp
	// repl builds the replacement from the submatches; nil replaces the
	// whole match.
	repl func(m []string) string
}

const secretKeys = `(?:[A-Za-z0-9_.-]*(?:passw(?:or)?d|passphrase|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|client[_-]?secret|credentials?|auth[_-]?(?:key|token)?|accountkey|sharedaccesskey|session[_-]?key|signing[_-]?key|encryption[_-]?key)[A-Za-z0-9_.-]*)`

var rules = []rule{
	{kind: "private_key", re: regexp.MustCompile(`-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----(?s:.*?)(?:-----END[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|\z)`)},
	{kind: "jwt", re: regexp.MustCompile(`\beyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*`)},
	{kind: "cloud_key", re: regexp.MustCompile(`\b(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|ANPA)[0-9A-Z]{16}\b|\bAIza[0-9A-Za-z_-]{35}\b`)},
	{kind: "token", re: regexp.MustCompile(`\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,}|xox[abprse]-[A-Za-z0-9-]{10,}|sk_(?:live|test)_[A-Za-z0-9]{16,}|sk-(?:proj-)?[A-Za-z0-9_-]{20,}|glpat-[A-Za-z0-9_-]{20,}|hf_[A-Za-z0-9]{30,})`)},
	{kind: "bearer", re: regexp.MustCompile(`(?i)\b(bearer|basic)(\s+)([A-Za-z0-9._~+/-]{8,}=*)`), repl: func(m []string) string {
		return m[1] + m[2] + "[REDACTED:bearer]"
	}},
	{kind: "url_password", re: regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.-]*://)([^\s:/@"'<>]*):([^\s@"'<>]+)@`), repl: func(m []string) string {
		return m[1] + m[2] + ":[REDACTED:url_password]@"
	}},
	{kind: "key_value", re: regexp.MustCompile(`(?i)(` + secretKeys + `)("?\s*[:=]\s*)("[^"]*"|'[^']*'|[^\s"',;&)}\]]+)`), repl: func(m []string) string {
		v := m[3]
		if strings.HasPrefix(v, "[REDACTED") {
			return m[0]
		}
		q := ""
		if len(v) > 0 && (v[0] == '"' || v[0] == '\'') {
			q = v[:1]
		}
		return m[1] + m[2] + q + "[REDACTED:key_value]" + q
	}},
	// A quoted value after a secret's name and a space: secret_token "x".
	{kind: "key_value", re: regexp.MustCompile(`(?i)(` + secretKeys + `)(\s+)("[^"]+"|'[^']+')`), repl: func(m []string) string {
		if strings.HasPrefix(m[3][1:], "[REDACTED") {
			return m[0]
		}
		return m[1] + m[2] + m[3][:1] + "[REDACTED:key_value]" + m[3][:1]
	}},
	// A whole line of base64 (a PEM body line seen without its BEGIN line,
	// as when logs are read line by line).
	{kind: "private_key", re: regexp.MustCompile(`(?m)^[ \t]*[A-Za-z0-9+/]{60,}={0,2}[ \t]*$`)},
}

var candidate = regexp.MustCompile(`[A-Za-z0-9+/_=]{24,}`)

// Redact returns s with every secret it recognises replaced, and what it
// replaced.
func Redact(s string) (string, []Finding) {
	var found []Finding
	for _, r := range rules {
		if !r.re.MatchString(s) {
			continue
		}
		s = r.re.ReplaceAllStringFunc(s, func(match string) string {
			out := "[REDACTED:" + r.kind + "]"
			if r.repl != nil {
				out = r.repl(r.re.FindStringSubmatch(match))
			}
			if out != match {
				found = append(found, Finding{Kind: r.kind})
			}
			return out
		})
	}
	s = candidate.ReplaceAllStringFunc(s, func(tok string) string {
		if !highEntropy(tok) {
			return tok
		}
		found = append(found, Finding{Kind: "high_entropy"})
		return "[REDACTED:high_entropy]"
	})
	return s, found
}

// highEntropy reports whether tok looks random enough to be a secret.
func highEntropy(tok string) bool {
	if strings.HasPrefix(tok, "REDACTED") {
		return false
	}
	var letters, digits, hex int
	var counts [256]int
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		counts[c]++
		switch {
		case c >= '0' && c <= '9':
			digits++
			hex++
		case c >= 'a' && c <= 'f':
			letters++
			hex++
		case c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z':
			letters++
		}
	}
	if letters == 0 || digits == 0 || hex == len(tok) {
		return false
	}
	return Entropy(counts[:], len(tok)) >= 4.0
}

// Entropy is the Shannon entropy, in bits per symbol, of a string with the
// given symbol counts and length n: H = -Σ (c/n)·log2(c/n).
func Entropy(counts []int, n int) float64 {
	h := 0.0
	for _, c := range counts {
		if c == 0 {
			continue
		}
		p := float64(c) / float64(n)
		h -= p * math.Log2(p)
	}
	return h
}
