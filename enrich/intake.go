package enrich

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// Enqueuer stores alerts durably; the intake acknowledges only after it
// returns. *Queue implements it.
type Enqueuer interface {
	Enqueue(ctx context.Context, recs []Record) ([]Record, error)
}

// IntakeOptions configure the webhook intake. Zero values take defaults.
type IntakeOptions struct {
	// MaxBodyBytes bounds a request body; larger ones get 413. 0 means
	// 4 MiB (Alertmanager's payload for a group of 1,000 alerts is ~1 MiB).
	MaxBodyBytes int64
	// BearerToken, when set, is required as "Authorization: Bearer TOKEN"
	// (Alertmanager's http_config.authorization).
	BearerToken string
	// BasicUser and BasicPassword, when set, are required as basic auth
	// (Alertmanager's http_config.basic_auth). Either scheme is accepted
	// when both are configured.
	BasicUser, BasicPassword string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Intake is the HTTP handler of POST /api/alerts.
type Intake struct {
	q       Enqueuer
	o       IntakeOptions
	logger  *slog.Logger
	metrics *Metrics
}

// NewIntake returns the webhook handler. logger nil discards; metrics nil
// means unregistered metrics.
func NewIntake(q Enqueuer, o IntakeOptions, logger *slog.Logger, metrics *Metrics) *Intake {
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 4 << 20
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if metrics == nil {
		metrics = NewMetrics(nil)
	}
	return &Intake{q: q, o: o, logger: logger, metrics: metrics}
}

func (in *Intake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := in.o.Now()
	outcome, code, msg := in.handle(r)
	in.metrics.webhookRequests.WithLabelValues(outcome).Inc()
	if code == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "5")
	}
	if code == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="foresight", Basic realm="foresight"`)
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	fmt.Fprintln(w, msg)
	in.metrics.webhookDuration.Observe(in.o.Now().Sub(start).Seconds())
}

// handle returns the outcome label, the HTTP status and the message.
func (in *Intake) handle(r *http.Request) (outcome string, code int, msg string) {
	ctx := r.Context()
	if r.Method != http.MethodPost {
		return "method", http.StatusMethodNotAllowed, "POST Alertmanager's webhook payload here"
	}
	if !in.authorized(r) {
		in.logger.WarnContext(ctx, "webhook refused: bad or missing credentials", "remote", r.RemoteAddr)
		return "unauthorized", http.StatusUnauthorized, "unauthorized: configure the receiver's http_config with the token or basic auth foresight enrich was given"
	}
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, in.o.MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			in.logger.WarnContext(ctx, "webhook refused: body too large", "limit_bytes", mbe.Limit, "remote", r.RemoteAddr)
			return "too_large", http.StatusRequestEntityTooLarge,
				fmt.Sprintf("body larger than %d bytes: set max_alerts on the webhook receiver, or raise --max-body-bytes", mbe.Limit)
		}
		// The connection broke or stalled: nothing was stored. A 5xx, so
		// that Alertmanager retries (a 4xx would drop the alerts).
		in.logger.WarnContext(ctx, "webhook body unreadable; Alertmanager will retry", "err", err, "remote", r.RemoteAddr)
		return "read_error", http.StatusInternalServerError, "reading the body: " + err.Error()
	}
	m, err := ParseWebhook(body)
	if err != nil {
		in.logger.WarnContext(ctx, "webhook refused: malformed payload", "err", err, "remote", r.RemoteAddr)
		return "malformed", http.StatusBadRequest, err.Error()
	}
	if m.Version != "" && m.Version != "4" {
		in.logger.InfoContext(ctx, "webhook payload of an unknown version accepted", "version", m.Version)
	}
	now := in.o.Now()
	recs := make([]Record, len(m.Alerts))
	for i, a := range m.Alerts {
		recs[i] = Record{Received: now, Receiver: m.Receiver, GroupKey: m.GroupKey, ExternalURL: m.ExternalURL, Alert: a}
	}
	added, err := in.q.Enqueue(ctx, recs)
	switch {
	case errors.Is(err, ErrQueueFull):
		in.logger.WarnContext(ctx, "webhook refused: alert queue full; Alertmanager will retry", "alerts", len(recs))
		return "overload", http.StatusServiceUnavailable, "alert queue full: retry later (raise --max-queued or find why the sinks are slow)"
	case err != nil:
		in.logger.ErrorContext(ctx, "webhook not stored; Alertmanager will retry", "err", err)
		return "store_error", http.StatusInternalServerError, "alerts could not be stored: " + err.Error()
	}
	for _, a := range m.Alerts {
		result := "duplicate"
		for _, r := range added {
			if r.Alert.DedupeKey() == a.DedupeKey() {
				result = "queued"
				break
			}
		}
		in.metrics.alertsReceived.WithLabelValues(a.Status, result).Inc()
	}
	if m.TruncatedAlerts > 0 {
		in.logger.WarnContext(ctx, "Alertmanager truncated the group: raise max_alerts to see every alert", "truncated", m.TruncatedAlerts)
	}
	return "accepted", http.StatusOK, fmt.Sprintf("stored %d of %d alerts (%d duplicates)", len(added), len(recs), len(recs)-len(added))
}

// authorized checks the configured credentials in constant time.
func (in *Intake) authorized(r *http.Request) bool {
	if in.o.BearerToken == "" && in.o.BasicUser == "" && in.o.BasicPassword == "" {
		return true
	}
	if in.o.BearerToken != "" {
		h := r.Header.Get("Authorization")
		if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") &&
			subtle.ConstantTimeCompare([]byte(strings.TrimSpace(h[7:])), []byte(in.o.BearerToken)) == 1 {
			return true
		}
	}
	if in.o.BasicUser != "" || in.o.BasicPassword != "" {
		if u, p, ok := r.BasicAuth(); ok {
			uok := subtle.ConstantTimeCompare([]byte(u), []byte(in.o.BasicUser))
			pok := subtle.ConstantTimeCompare([]byte(p), []byte(in.o.BasicPassword))
			if uok&pok == 1 {
				return true
			}
		}
	}
	return false
}
