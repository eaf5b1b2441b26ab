package promsource

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Defaults of a Datasource's zero fields.
const (
	// DefaultName is the name of the datasource that --prometheus-url
	// configures, and the one a trigger reads when it names none.
	DefaultName = "default"
	// DefaultTimeout bounds each HTTP call to a datasource.
	DefaultTimeout = 10 * time.Second
	// DefaultMaxPointsPerQuery is Prometheus's limit on the points of one
	// series in one range query.
	DefaultMaxPointsPerQuery = 11000
)

// Config is the datasources section of Foresight's configuration file:
//
//	datasources:
//	  - name: default
//	    url: http://prometheus.monitoring:9090
//	  - name: thanos
//	    url: https://thanos-query.monitoring:10902
//	    timeout: 30s
//	    bearer_token_file: /var/run/secrets/thanos/token
//	    tls_config:
//	      ca_file: /etc/foresight/ca.crt
//
// A program whose file holds more sections can embed Config inline in its
// own struct and call Validate.
type Config struct {
	Datasources []Datasource `yaml:"datasources"`
}

// Datasource is one PromQL HTTP API: Prometheus, VictoriaMetrics (single
// node, or a cluster's vmselect URL ending in /select/0/prometheus), or a
// Thanos Querier.
type Datasource struct {
	// Name is how triggers refer to the datasource. Required and unique.
	Name string `yaml:"name"`
	// URL is the base of the API, the part before /api/v1: for example
	// http://prometheus:9090. Required; http or https.
	URL string `yaml:"url"`
	// Timeout bounds each HTTP call, and is passed to the server as the
	// query's own timeout. If Timeout is 0, it is defaulted to 10s.
	Timeout time.Duration `yaml:"timeout"`
	// MaxPointsPerQuery is the most points one range query may ask for;
	// longer ranges are read in consecutive chunks. If MaxPointsPerQuery is
	// 0, it is defaulted to 11000, Prometheus's own limit.
	MaxPointsPerQuery int `yaml:"max_points_per_query"`
	// BearerToken is sent as "Authorization: Bearer TOKEN". At most one of
	// BearerToken, BearerTokenFile and BasicAuth may be set.
	BearerToken string `yaml:"bearer_token"`
	// BearerTokenFile holds the bearer token; it is read again for every
	// request, so a rotated token is picked up. Surrounding white space is
	// ignored.
	BearerTokenFile string `yaml:"bearer_token_file"`
	// BasicAuth sends HTTP basic authentication.
	BasicAuth *BasicAuth `yaml:"basic_auth"`
	// TLS configures https URLs.
	TLS *TLSConfig `yaml:"tls_config"`
}

// BasicAuth is HTTP basic authentication.
type BasicAuth struct {
	// Username is required.
	Username string `yaml:"username"`
	// Password, or PasswordFile that holds it (read for every request;
	// surrounding white space is ignored). At most one of them may be set.
	Password     string `yaml:"password"`
	PasswordFile string `yaml:"password_file"`
}

// TLSConfig configures the connection to an https datasource. Files are
// PEM. The CA is read once, when the client is built; the client certificate
// is read again for every new connection, so a renewed one is picked up.
type TLSConfig struct {
	// CAFile holds the certificates that may sign the server's; the
	// system's roots are used if it is empty.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are the client certificate and its key, for
	// servers that require mutual TLS. Set both or neither.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ServerName is the name the server's certificate must have, if not
	// the URL's host.
	ServerName string `yaml:"server_name"`
	// InsecureSkipVerify accepts any server certificate. For tests only.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
}

// LoadConfig reads, decodes and validates the configuration file at path.
// Keys it does not know are errors. Relative file names in the file
// (bearer_token_file, password_file, ca_file, cert_file, key_file) are taken
// from the file's directory. Zero timeouts and point limits are replaced by
// their defaults.
func LoadConfig(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("read datasource configuration: %w", err)
	}
	c, err := parseConfig(data, filepath.Dir(path))
	if err != nil {
		return Config{}, fmt.Errorf("datasource configuration %s: %w", path, err)
	}
	return c, nil
}

// SingleConfig returns the configuration of --prometheus-url: one
// datasource named "default" at rawURL, with default settings. NewSet
// validates it.
func SingleConfig(rawURL string) Config {
	return Config{Datasources: []Datasource{Datasource{Name: DefaultName, URL: rawURL}.withDefaults()}}
}

func parseConfig(data []byte, dir string) (Config, error) {
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		if errors.Is(err, io.EOF) {
			return Config{}, errors.New("the file is empty: list the datasources under a datasources key")
		}
		return Config{}, explainYAMLError(err)
	}
	for i := range c.Datasources {
		c.Datasources[i] = c.Datasources[i].withDefaults()
		c.Datasources[i].resolvePaths(dir)
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// Validate checks every datasource and reports every problem found, each
// with what to change. Zero timeouts and point limits are valid: they mean
// the defaults.
func (c Config) Validate() error {
	if len(c.Datasources) == 0 {
		return errors.New("no datasources: list at least one under the datasources key, each with a name and a url")
	}
	var errs []error
	seen := make(map[string]int, len(c.Datasources))
	for i, d := range c.Datasources {
		if d.Name == "" {
			errs = append(errs, fmt.Errorf("datasources[%d]: %w", i, d.Validate()))
			continue
		}
		if j, dup := seen[d.Name]; dup {
			errs = append(errs, fmt.Errorf("datasources[%d]: name %q is also the name of datasources[%d]: give each datasource its own name", i, d.Name, j))
			continue
		}
		seen[d.Name] = i
		errs = append(errs, d.Validate())
	}
	return errors.Join(errs...)
}

// Validate checks d: required fields, the URL, exclusive options, and that
// the files it names can be read and parsed.
func (d Datasource) Validate() error {
	if d.Name == "" {
		return fmt.Errorf("name is empty: give the datasource a name that triggers can refer to (%q is the one used when a trigger names none)", DefaultName)
	}
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	u, err := checkURL(d.URL)
	if err != nil {
		errs = append(errs, err)
	}
	if d.Timeout < 0 {
		add("timeout %v is negative: set a positive duration such as 30s, or leave it out for %v", d.Timeout, DefaultTimeout)
	}
	if d.MaxPointsPerQuery < 0 {
		add("max_points_per_query %d is negative: set a positive count, or leave it out for %d", d.MaxPointsPerQuery, DefaultMaxPointsPerQuery)
	}
	if d.BearerToken != "" && d.BearerTokenFile != "" {
		add("both bearer_token and bearer_token_file are set: keep one")
	}
	if (d.BearerToken != "" || d.BearerTokenFile != "") && d.BasicAuth != nil {
		add("both a bearer token and basic_auth are set: a request carries one Authorization header, keep one")
	}
	if d.BearerTokenFile != "" {
		if _, err := readSecret(d.BearerTokenFile, "bearer_token_file"); err != nil {
			errs = append(errs, err)
		}
	}
	if d.BasicAuth != nil {
		errs = append(errs, d.BasicAuth.validate())
	}
	if d.TLS != nil {
		if u != nil && u.Scheme == "http" {
			add("tls_config is set but url %q is http: use an https url, or remove tls_config", d.URL)
		}
		if _, err := d.TLS.build(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("datasource %q: %w", d.Name, err)
	}
	return nil
}

func checkURL(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, errors.New("url is empty: set it to the base of the PromQL HTTP API, e.g. http://prometheus:9090")
	}
	if !strings.HasPrefix(raw, "http://") && !strings.HasPrefix(raw, "https://") {
		_, rest, found := strings.Cut(raw, "://")
		if !found {
			rest = raw
		}
		return nil, fmt.Errorf("url %q does not start with http:// or https://: write the scheme, e.g. http://%s", raw, rest)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("url: %w", err)
	}
	switch {
	case u.Host == "":
		return nil, fmt.Errorf("url %q has no host: write it as http://HOST:PORT", raw)
	case u.User != nil:
		return nil, errors.New("url has credentials in it: move them to basic_auth (with password_file) so that they are neither logged nor shown")
	case strings.HasSuffix(strings.TrimSuffix(u.Path, "/"), "/api/v1"):
		return nil, fmt.Errorf("url %q ends in /api/v1: give the base of the API, the part before /api/v1", raw)
	}
	return u, nil
}

func (b *BasicAuth) validate() error {
	var errs []error
	if b.Username == "" {
		errs = append(errs, errors.New("basic_auth.username is empty: set it"))
	}
	if b.Password != "" && b.PasswordFile != "" {
		errs = append(errs, errors.New("both basic_auth.password and basic_auth.password_file are set: keep one"))
	}
	if b.PasswordFile != "" {
		if _, err := readSecret(b.PasswordFile, "basic_auth.password_file"); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// build returns the tls.Config that t describes, reading its files.
func (t *TLSConfig) build() (*tls.Config, error) {
	cfg := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         t.ServerName,
		InsecureSkipVerify: t.InsecureSkipVerify,
	}
	var errs []error
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("tls_config.ca_file: %w: check the path and that Foresight may read it", err))
		default:
			cfg.RootCAs = x509.NewCertPool()
			if !cfg.RootCAs.AppendCertsFromPEM(pem) {
				errs = append(errs, fmt.Errorf("tls_config.ca_file %s holds no PEM certificate: give the CA certificate, -----BEGIN CERTIFICATE-----", t.CAFile))
			}
		}
	}
	switch {
	case (t.CertFile == "") != (t.KeyFile == ""):
		errs = append(errs, errors.New("only one of tls_config.cert_file and tls_config.key_file is set: a client certificate needs both"))
	case t.CertFile != "":
		if _, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile); err != nil {
			errs = append(errs, fmt.Errorf("tls_config.cert_file and key_file: %w: give a PEM certificate and its PEM key", err))
		}
		certFile, keyFile := t.CertFile, t.KeyFile
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			c, err := tls.LoadX509KeyPair(certFile, keyFile)
			if err != nil {
				return nil, fmt.Errorf("load client certificate: %w", err)
			}
			return &c, nil
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return cfg, nil
}

// readSecret returns the trimmed content of the file a secret is kept in.
// Its errors are *secretError.
func readSecret(path, key string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", &secretError{fmt.Errorf("%s: %w: check the path and that Foresight may read it", key, err)}
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", &secretError{fmt.Errorf("%s %s is empty: write the secret into it", key, path)}
	}
	return s, nil
}

// secretError is a secret file that could not be read. Its message says
// what to do, so classify adds no hint of its own.
type secretError struct{ err error }

func (e *secretError) Error() string { return e.err.Error() }
func (e *secretError) Unwrap() error { return e.err }

func (d Datasource) withDefaults() Datasource {
	if d.Timeout == 0 {
		d.Timeout = DefaultTimeout
	}
	if d.MaxPointsPerQuery == 0 {
		d.MaxPointsPerQuery = DefaultMaxPointsPerQuery
	}
	return d
}

// resolvePaths makes d's relative file names relative to dir.
func (d *Datasource) resolvePaths(dir string) {
	resolve := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	resolve(&d.BearerTokenFile)
	if d.BasicAuth != nil {
		resolve(&d.BasicAuth.PasswordFile)
	}
	if d.TLS != nil {
		resolve(&d.TLS.CAFile)
		resolve(&d.TLS.CertFile)
		resolve(&d.TLS.KeyFile)
	}
}

// LogValue shows d without its secrets.
func (d Datasource) LogValue() slog.Value {
	auth := "none"
	switch {
	case d.BearerToken != "":
		auth = "bearer_token"
	case d.BearerTokenFile != "":
		auth = "bearer_token_file"
	case d.BasicAuth != nil:
		auth = "basic_auth"
	}
	return slog.GroupValue(
		slog.String("name", d.Name),
		slog.String("url", d.URL),
		slog.Duration("timeout", d.Timeout),
		slog.String("auth", auth),
		slog.Bool("tls_config", d.TLS != nil),
	)
}

var unknownField = regexp.MustCompile(`^line (\d+): field (\S+) not found in type (\S+)$`)

// explainYAMLError rewrites yaml's "field X not found in type T" as the
// unknown key, where it is, and the keys that are allowed there.
func explainYAMLError(err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return fmt.Errorf("decode YAML: %w", err)
	}
	sections := map[string]reflect.Type{
		"promsource.Config":     reflect.TypeFor[Config](),
		"promsource.Datasource": reflect.TypeFor[Datasource](),
		"promsource.BasicAuth":  reflect.TypeFor[BasicAuth](),
		"promsource.TLSConfig":  reflect.TypeFor[TLSConfig](),
	}
	where := map[string]string{
		"promsource.Config":     "at the top level",
		"promsource.Datasource": "in a datasource",
		"promsource.BasicAuth":  "in basic_auth",
		"promsource.TLSConfig":  "in tls_config",
	}
	msgs := make([]string, len(te.Errors))
	for i, m := range te.Errors {
		msgs[i] = m
		switch {
		case strings.HasSuffix(m, "into []promsource.Datasource"):
			msgs[i] = strings.TrimSuffix(m, "into []promsource.Datasource") + "into a list: datasources is a list, each datasource starting with \"- \""
			continue
		case strings.HasSuffix(m, "into time.Duration"):
			msgs[i] = m + ": write a duration with its unit, such as 10s or 1m30s"
			continue
		}
		g := unknownField.FindStringSubmatch(m)
		if g == nil || sections[g[3]] == nil {
			continue
		}
		msgs[i] = fmt.Sprintf("line %s: unknown key %q %s: check its spelling and indentation; the keys are %s",
			g[1], g[2], where[g[3]], strings.Join(yamlKeys(sections[g[3]]), ", "))
	}
	return errors.New(strings.Join(msgs, "; "))
}

func yamlKeys(t reflect.Type) []string {
	keys := make([]string, 0, t.NumField())
	for i := range t.NumField() {
		if k, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); k != "" {
			keys = append(keys, k)
		}
	}
	return keys
}
