package promsource

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/foresight-aiops/foresight/forecast"
	"github.com/foresight-aiops/foresight/internal/testcerts"
	"github.com/foresight-aiops/foresight/internal/tsdbtest"
)

// TestAuth reads a real VictoriaMetrics through a proxy that lets a request
// through only with the credentials it expects.
func TestAuth(t *testing.T) {
	at := time.Now().Truncate(time.Minute)
	vm := tsdbtest.StartVictoriaMetrics(t, tsdbtest.Series{Metric: "answer", Samples: []forecast.Sample{{T: at, V: 42}}})

	var (
		mu   sync.Mutex
		want string // the Authorization header the proxy lets through
	)
	expect := func(h string) {
		mu.Lock()
		defer mu.Unlock()
		want = h
	}
	proxy := serve(t, forwarder(vm.URL, func(r *http.Request) int {
		mu.Lock()
		defer mu.Unlock()
		if r.Header.Get("Authorization") != want {
			return http.StatusUnauthorized
		}
		return 0
	}))

	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tokenFile := write("token", "t0ken-1\n")
	passwordFile := write("password", " pa55\n")

	basic := func(user, password string) string {
		r, _ := http.NewRequest(http.MethodGet, "/", nil)
		r.SetBasicAuth(user, password)
		return r.Header.Get("Authorization")
	}
	tests := []struct {
		name   string
		ds     Datasource
		expect string
		before func()
		ok     bool
	}{
		{name: "no credentials", expect: ""},
		{name: "bearer token", ds: Datasource{BearerToken: "s3cret"}, expect: "Bearer s3cret"},
		{name: "bearer token file", ds: Datasource{BearerTokenFile: tokenFile}, expect: "Bearer t0ken-1"},
		{
			name: "rotated bearer token file", ds: Datasource{BearerTokenFile: tokenFile}, expect: "Bearer t0ken-2",
			before: func() { write("token", "t0ken-2") },
		},
		{name: "basic auth", ds: Datasource{BasicAuth: &BasicAuth{Username: "foresight", Password: "pw"}}, expect: basic("foresight", "pw")},
		{name: "basic auth password file", ds: Datasource{BasicAuth: &BasicAuth{Username: "foresight", PasswordFile: passwordFile}}, expect: basic("foresight", "pa55")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ds := tt.ds
			ds.Name, ds.URL = "guarded", proxy
			c := newClient(t, ds)
			if tt.before != nil {
				tt.before()
			}
			expect(tt.expect)
			v, ok, err := c.Instant(t.Context(), "answer", at)
			if err != nil || !ok || v != 42 {
				t.Errorf("with the expected credentials: Instant = %v, %v, %v, want 42", v, ok, err)
			}
			expect("Bearer something-else")
			_, _, err = c.Instant(t.Context(), "answer", at)
			wantUnavailable(t, err, "answer", "refused the credentials")
		})
	}

	t.Run("token file removed", func(t *testing.T) {
		c := newClient(t, Datasource{Name: "guarded", URL: proxy, BearerTokenFile: tokenFile})
		if err := os.Remove(tokenFile); err != nil {
			t.Fatal(err)
		}
		_, _, err := c.Instant(t.Context(), "answer", at)
		wantUnavailable(t, err, "answer", "bearer_token_file", "no such file", "check the path")
	})
}

// TestTLS reads a real VictoriaMetrics through an https proxy that requires
// a client certificate.
func TestTLS(t *testing.T) {
	at := time.Now().Truncate(time.Minute)
	vm := tsdbtest.StartVictoriaMetrics(t, tsdbtest.Series{Metric: "answer", Samples: []forecast.Sample{{T: at, V: 42}}})

	dir := t.TempDir()
	clientCert, clientKey, clientPool := clientCertificate(t, dir)
	srv := httptest.NewUnstartedServer(forwarder(vm.URL, func(*http.Request) int { return 0 }))
	srv.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: clientPool, MinVersion: tls.VersionTLS12}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	// httptest's certificate is for 127.0.0.1 and example.com.
	caFile := filepath.Join(dir, "ca.crt")
	writePEM(t, caFile, "CERTIFICATE", srv.Certificate().Raw)

	tests := []struct {
		name string
		tls  TLSConfig
		says string // for a failure
	}{
		{name: "mutual TLS", tls: TLSConfig{CAFile: caFile, CertFile: clientCert, KeyFile: clientKey}},
		{name: "server name", tls: TLSConfig{CAFile: caFile, CertFile: clientCert, KeyFile: clientKey, ServerName: "example.com"}},
		{name: "insecure skip verify", tls: TLSConfig{InsecureSkipVerify: true, CertFile: clientCert, KeyFile: clientKey}},
		{name: "unknown CA", tls: TLSConfig{CertFile: clientCert, KeyFile: clientKey}, says: "set tls_config.ca_file"},
		{name: "wrong server name", tls: TLSConfig{CAFile: caFile, CertFile: clientCert, KeyFile: clientKey, ServerName: "prometheus.example"}, says: "not prometheus.example"},
		{name: "no client certificate", tls: TLSConfig{CAFile: caFile}, says: "set tls_config.cert_file and key_file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClient(t, Datasource{Name: "tls", URL: srv.URL, TLS: &tt.tls})
			v, ok, err := c.Instant(t.Context(), "answer", at)
			if tt.says == "" {
				if err != nil || !ok || v != 42 {
					t.Errorf("Instant = %v, %v, %v, want 42", v, ok, err)
				}
				return
			}
			wantUnavailable(t, err, "answer", tt.says)
		})
	}
}

// clientCertificate writes a client certificate and its key to dir, and
// returns their files and a pool that trusts their CA.
func clientCertificate(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	ca := testcerts.NewCA(t)
	certFile, keyFile = ca.Issue(t, "foresight").WriteFiles(t, dir, "client")
	return certFile, keyFile, ca.Pool()
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}
