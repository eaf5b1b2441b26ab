package enrich

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseWebhook(t *testing.T) {
	for _, tc := range []struct {
		file        string
		alerts      int
		statuses    []string
		fingerprint string // of the first alert
	}{
		{"am-0.34-firing.json", 2, []string{"firing", "resolved"}, "a1b2c3d4e5f6a7b8"},
		{"am-0.25-resolved.json", 1, []string{"resolved"}, "ffeeddccbbaa9988"},
		// No status, no fingerprint, no version: a sender other than
		// Alertmanager; the status defaults to firing and the fingerprint
		// is a hash of the labels.
		{"minimal-no-fingerprint.json", 1, []string{"firing"}, labelsFingerprint(map[string]string{"alertname": "HighLatency", "service": "checkout"})},
	} {
		t.Run(tc.file, func(t *testing.T) {
			body, err := os.ReadFile(filepath.Join("testdata", "webhook", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			m, err := ParseWebhook(body)
			if err != nil {
				t.Fatalf("ParseWebhook: %v", err)
			}
			if len(m.Alerts) != tc.alerts {
				t.Fatalf("got %d alerts, want %d", len(m.Alerts), tc.alerts)
			}
			for i, s := range tc.statuses {
				if m.Alerts[i].Status != s {
					t.Errorf("alerts[%d].Status = %q, want %q", i, m.Alerts[i].Status, s)
				}
			}
			if got := m.Alerts[0].Fingerprint; got != tc.fingerprint {
				t.Errorf("fingerprint %q, want %q", got, tc.fingerprint)
			}
		})
	}
}

func TestParseWebhookMalformed(t *testing.T) {
	for file, want := range map[string]string{
		"truncated.bad.json":    "unexpected end of JSON input",
		"no-alerts.bad.json":    "no alerts in the payload",
		"bad-time.bad.json":     "alerts[0]",
		"label-number.bad.json": "alerts[0]: field labels: got JSON number, expected string",
		"alert-string.bad.json": "alerts[0]: field (top level): got JSON string",
		"bad-status.bad.json":   `alerts[0]: status "pending"`,
		"no-startsat.bad.json":  "alerts[0] (X): no startsAt",
		"array.bad.json":        "got JSON array",
		"empty.bad.json":        "empty body",
	} {
		t.Run(file, func(t *testing.T) {
			body, err := os.ReadFile(filepath.Join("testdata", "webhook", file))
			if err != nil {
				t.Fatal(err)
			}
			_, err = ParseWebhook(body)
			var me *MalformedError
			if !errors.As(err, &me) {
				t.Fatalf("ParseWebhook: %v, want a *MalformedError", err)
			}
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not contain %q", err, want)
			}
		})
	}
}

func TestDedupeKey(t *testing.T) {
	start := time.Date(2026, 8, 22, 10, 0, 0, 0, time.UTC)
	a := Alert{Status: StatusFiring, Fingerprint: "ab", StartsAt: start}
	b := a
	b.StartsAt = start.In(time.FixedZone("CEST", 2*3600)) // the same instant
	if a.DedupeKey() != b.DedupeKey() {
		t.Errorf("same instant in two zones: %q != %q", a.DedupeKey(), b.DedupeKey())
	}
	r := a
	r.Status = StatusResolved
	if a.DedupeKey() == r.DedupeKey() || a.CorrelationID() != r.CorrelationID() {
		t.Errorf("a resolution must differ in DedupeKey and share CorrelationID")
	}
	later := a
	later.StartsAt = start.Add(time.Nanosecond)
	if a.DedupeKey() == later.DedupeKey() {
		t.Errorf("a new occurrence (another startsAt) must not be a duplicate")
	}
}

func FuzzParseWebhook(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "webhook", "*.json"))
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := ParseWebhook(body)
		if err != nil {
			if !errors.As(err, new(*MalformedError)) {
				t.Fatalf("error %v is not a *MalformedError", err)
			}
			return
		}
		if len(m.Alerts) == 0 {
			t.Fatal("accepted a payload without alerts")
		}
		for _, a := range m.Alerts {
			if a.Fingerprint == "" || a.StartsAt.IsZero() || (a.Status != StatusFiring && a.Status != StatusResolved) || a.Labels == nil {
				t.Fatalf("accepted an alert the pipeline cannot use: %+v", a)
			}
			_ = FormatText(Notification{Kind: KindAlert, Alert: a})
		}
	})
}
