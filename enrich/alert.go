// Package enrich turns Alertmanager notifications into enriched messages:
// a webhook intake that stores every alert durably before acknowledging it,
// a pipeline that delivers the raw alert to the sinks at once and an
// analysis after it (cluster context, redaction, a local LLM, checked
// suggestions), and the sinks themselves (stdout, generic webhook, Slack).
//
// The pipeline never blocks Alertmanager: the intake only writes to an
// embedded store (bbolt) and answers; everything slow happens afterwards,
// and a restart, even after kill -9, resumes from the store.
package enrich

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Alert statuses as Alertmanager writes them.
const (
	StatusFiring   = "firing"
	StatusResolved = "resolved"
)

// WebhookMessage is Alertmanager's webhook payload, version 4
// (notify/webhook Message). Unknown fields, such as notification_reason or
// routeLabels of newer releases, are ignored; missing ones are zero.
type WebhookMessage struct {
	Version           string            `json:"version"`
	GroupKey          string            `json:"groupKey"`
	TruncatedAlerts   int               `json:"truncatedAlerts"`
	Status            string            `json:"status"`
	Receiver          string            `json:"receiver"`
	GroupLabels       map[string]string `json:"groupLabels"`
	CommonLabels      map[string]string `json:"commonLabels"`
	CommonAnnotations map[string]string `json:"commonAnnotations"`
	ExternalURL       string            `json:"externalURL"`
	Alerts            []Alert           `json:"alerts"`
}

// Alert is one alert of a webhook payload.
type Alert struct {
	Status       string            `json:"status"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
	Fingerprint  string            `json:"fingerprint"`
}

// Name is the alert's alertname label, or "(unnamed alert)".
func (a Alert) Name() string {
	if n := a.Labels["alertname"]; n != "" {
		return n
	}
	return "(unnamed alert)"
}

// CorrelationID identifies one occurrence of an alert across its messages
// (the raw alert, its analysis, its resolution): the fingerprint and the
// start time, which Alertmanager keeps while the alert fires and resolves.
func (a Alert) CorrelationID() string {
	return a.Fingerprint + "-" + a.StartsAt.UTC().Format("20060102T150405.000000000Z")
}

// DedupeKey is what makes a re-sent alert a duplicate: fingerprint,
// startsAt and status. Alertmanager re-sends a group after every
// group_interval until a notification succeeds, and HA peers may both send.
func (a Alert) DedupeKey() string {
	return a.CorrelationID() + "|" + a.Status
}

// MalformedError is a payload that can never be accepted: the intake
// answers 400, which Alertmanager does not retry.
type MalformedError struct{ Reason string }

func (e *MalformedError) Error() string { return "malformed Alertmanager payload: " + e.Reason }

func malformed(format string, args ...any) error {
	return &MalformedError{Reason: fmt.Sprintf(format, args...)}
}

// ParseWebhook decodes an Alertmanager webhook payload leniently: unknown
// fields are ignored, a missing version, status or fingerprint is filled in
// (the fingerprint as a hash of the labels, for senders other than
// Alertmanager), and only what makes the payload unusable is refused: not
// JSON, no alerts, an alert that is not an object or has an unreadable
// time. Errors are *MalformedError and name the offending alert.
func ParseWebhook(body []byte) (WebhookMessage, error) {
	var raw struct {
		WebhookMessage
		Alerts []json.RawMessage `json:"alerts"`
	}
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return WebhookMessage{}, malformed("empty body (expected Alertmanager's webhook JSON)")
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return WebhookMessage{}, malformed("%v", describeJSONError(err))
	}
	m := raw.WebhookMessage
	if len(raw.Alerts) == 0 {
		return WebhookMessage{}, malformed("no alerts in the payload")
	}
	m.Alerts = make([]Alert, 0, len(raw.Alerts))
	for i, ra := range raw.Alerts {
		var a Alert
		if err := json.Unmarshal(ra, &a); err != nil {
			return WebhookMessage{}, malformed("alerts[%d]: %v", i, describeJSONError(err))
		}
		switch a.Status {
		case StatusFiring, StatusResolved:
		case "":
			a.Status = m.Status
			if a.Status != StatusResolved {
				a.Status = StatusFiring
			}
		default:
			return WebhookMessage{}, malformed("alerts[%d]: status %q (expected firing or resolved)", i, a.Status)
		}
		if a.Labels == nil {
			a.Labels = map[string]string{}
		}
		if a.Fingerprint == "" {
			a.Fingerprint = labelsFingerprint(a.Labels)
		}
		if a.StartsAt.IsZero() {
			return WebhookMessage{}, malformed("alerts[%d] (%s): no startsAt", i, a.Name())
		}
		m.Alerts = append(m.Alerts, a)
	}
	return m, nil
}

// labelsFingerprint is a stable hash of a label set, for payloads that
// carry no fingerprint.
func labelsFingerprint(labels map[string]string) string {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	h := sha256.New()
	for _, k := range keys {
		h.Write([]byte(k))
		h.Write([]byte{0})
		h.Write([]byte(labels[k]))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// describeJSONError turns encoding/json errors into messages that say
// where the payload went wrong.
func describeJSONError(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("invalid JSON at byte %d: %v", se.Offset, se)
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			field = "(top level)"
		}
		return fmt.Sprintf("field %s: got JSON %s, expected %s", field, te.Value, te.Type)
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}
