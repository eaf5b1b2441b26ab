package promsource

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"unicode/utf8"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
)

// The two classes of a failed query. A QueryError matches one of them with
// errors.Is.
var (
	// ErrUnavailable means the datasource could not answer: it is down or
	// unreachable, it timed out, it answered 5xx, or it refused the
	// credentials. The query may well succeed later: a scaler serves its last
	// forecast meanwhile.
	ErrUnavailable = errors.New("datasource unavailable")
	// ErrBadQuery means the datasource answered and the query is at fault:
	// a syntax error, a type error, or a result that is not one series.
	// Retrying will not help; the query must be changed.
	ErrBadQuery = errors.New("bad query")
)

// ErrUnknownDatasource is returned by Set.Get for a name not configured.
var ErrUnknownDatasource = errors.New("unknown datasource")

// QueryError is the error of a query that failed: the datasource, the
// query, the class (ErrUnavailable or ErrBadQuery) and the cause.
// errors.Is matches both the class and the cause, so a timeout matches
// ErrUnavailable and context.DeadlineExceeded.
type QueryError struct {
	Datasource string
	Query      string
	// Kind is ErrUnavailable or ErrBadQuery.
	Kind error
	// Err is what went wrong.
	Err error
	// Hint says what to do about it.
	Hint string
}

func (e *QueryError) Error() string {
	var b strings.Builder
	if errors.Is(e.Kind, ErrBadQuery) {
		fmt.Fprintf(&b, "bad query %q on datasource %q: %v", e.Query, e.Datasource, e.Err)
	} else {
		fmt.Fprintf(&b, "datasource %q unavailable for query %q: %v", e.Datasource, e.Query, e.Err)
	}
	if e.Hint != "" {
		b.WriteString(": ")
		b.WriteString(e.Hint)
	}
	return b.String()
}

// Unwrap returns the class and the cause.
func (e *QueryError) Unwrap() []error { return []error{e.Kind, e.Err} }

// classify turns the error of one HTTP call into a QueryError, or, when the
// caller's own context ended, into that context's error. This is the one
// place where context errors are mapped. status is the HTTP status of the
// last response, 0 if none came.
func (c *Client) classify(parent context.Context, query string, status int, err error) error {
	if parent.Err() != nil {
		// The caller gave up or was cancelled: not the datasource's fault.
		return fmt.Errorf("query %q on datasource %q: %w", query, c.name, context.Cause(parent))
	}
	unavailable := func(hint string) error {
		return &QueryError{Datasource: c.name, Query: query, Kind: ErrUnavailable, Err: err, Hint: hint}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return unavailable(fmt.Sprintf("no answer within the datasource's timeout of %v: check its load, make the query cheaper, or raise timeout", c.timeout))
	}
	var secretErr *secretError
	if errors.As(err, &secretErr) {
		return &QueryError{Datasource: c.name, Query: query, Kind: ErrUnavailable, Err: secretErr}
	}
	var (
		certErr *tls.CertificateVerificationError
		opErr   *net.OpError
	)
	switch {
	case errors.As(err, &certErr):
		return unavailable("Foresight does not trust the server's certificate: set tls_config.ca_file to the CA that signed it, or tls_config.server_name to a name it is valid for")
	case errors.As(err, &opErr) && opErr.Op == "remote error":
		return unavailable("the server ended the TLS handshake: if it requires a client certificate, set tls_config.cert_file and key_file to one it accepts")
	}
	var apiErr *v1.Error
	if !errors.As(err, &apiErr) {
		return unavailable(fmt.Sprintf("check that the datasource is up and that %s is reachable from Foresight", c.url))
	}
	errorType := apiErr.Type
	if apiErr.Detail != "" {
		// The body of an answer with a status other than 2xx, 400 and 422.
		// Prometheus answers a query timeout with 503 and an API error;
		// a proxy answers with its own error page, whose start tells who
		// answered.
		var body struct {
			ErrorType v1.ErrorType `json:"errorType"`
			Error     string       `json:"error"`
		}
		if json.Unmarshal([]byte(apiErr.Detail), &body) == nil && body.Error != "" {
			errorType = body.ErrorType
			err = fmt.Errorf("%w: %s: %s", err, body.ErrorType, body.Error)
		} else {
			err = fmt.Errorf("%w: %s", err, abbreviate(apiErr.Detail, 200))
		}
	}
	switch {
	case errorType == v1.ErrTimeout || errorType == v1.ErrCanceled:
		return unavailable("the datasource gave up on the query: check its load, make the query cheaper, or raise its query timeout")
	case status == http.StatusUnauthorized || status == http.StatusForbidden || status == http.StatusProxyAuthRequired:
		return unavailable("the datasource refused the credentials: check bearer_token, bearer_token_file or basic_auth")
	case status == http.StatusNotFound:
		return unavailable(fmt.Sprintf("nothing at %s answers the PromQL HTTP API: check that url is the part before /api/v1 (for a VictoriaMetrics cluster, .../select/0/prometheus)", c.url))
	case status == http.StatusRequestTimeout || status == http.StatusTooManyRequests:
		return unavailable("the datasource is overloaded: it may answer later")
	case apiErr.Type == v1.ErrBadResponse:
		return unavailable(fmt.Sprintf("the answer is not a PromQL HTTP API response: check that %s is Prometheus, VictoriaMetrics or a Thanos Querier", c.url))
	case status/100 == 4 || errorType == v1.ErrBadData || errorType == v1.ErrExec:
		return &QueryError{Datasource: c.name, Query: query, Kind: ErrBadQuery, Err: err, Hint: "fix the query"}
	default:
		return unavailable("check the datasource's health")
	}
}

// badQuery returns an ErrBadQuery QueryError.
func (c *Client) badQuery(query string, err error, hint string) error {
	return &QueryError{Datasource: c.name, Query: query, Kind: ErrBadQuery, Err: err, Hint: hint}
}

// abbreviate returns s on one line, cut to at most n bytes.
func abbreviate(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		for n > 0 && !utf8.RuneStart(s[n]) {
			n--
		}
		s = s[:n] + "…"
	}
	return s
}
