package promsource

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestLoadConfig(t *testing.T) {
	// Relative file names resolve against the configuration file's
	// directory.
	rel := func(name string) string { return filepath.Join("testdata", name) }
	tests := []struct {
		file string
		want Config
	}{
		{
			file: "minimal.yml",
			want: Config{Datasources: []Datasource{{
				Name: "default", URL: "http://prometheus.monitoring:9090",
				Timeout: 10 * time.Second, MaxPointsPerQuery: 11000,
			}}},
		},
		{
			file: "full.yml",
			want: Config{Datasources: []Datasource{
				{
					Name: "default", URL: "http://prometheus.monitoring:9090",
					Timeout: 30 * time.Second, MaxPointsPerQuery: 5000,
					BearerTokenFile: rel("token"),
				},
				{
					Name: "thanos", URL: "https://thanos-query.monitoring:10902/",
					Timeout: 10 * time.Second, MaxPointsPerQuery: 11000,
					BasicAuth: &BasicAuth{Username: "foresight", PasswordFile: rel("password")},
					TLS:       &TLSConfig{ServerName: "thanos.example", InsecureSkipVerify: true},
				},
				{
					Name: "victoria", URL: "http://vmselect.monitoring:8481/select/0/prometheus",
					Timeout: 10 * time.Second, MaxPointsPerQuery: 11000,
					BearerToken: "inline-token",
				},
			}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got, err := LoadConfig(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
			if _, err := NewSet(got, nil); err != nil {
				t.Errorf("NewSet: %v", err)
			}
		})
	}
}

func TestLoadConfigErrors(t *testing.T) {
	// Each bad file and the words its error must hold: the problem and
	// what to do about it.
	tests := map[string][]string{
		"api_v1_in_url":               {`datasource "default"`, "ends in /api/v1", "the part before /api/v1"},
		"basic_auth_without_username": {"basic_auth.username is empty"},
		"ca_not_pem":                  {"tls_config.ca_file", "holds no PEM certificate"},
		"cert_without_key":            {"only one of tls_config.cert_file and tls_config.key_file", "needs both"},
		"credentials_in_url":          {"url has credentials in it", "move them to basic_auth"},
		"duplicate_name":              {`datasources[1]: name "default" is also the name of datasources[0]`, "its own name"},
		"empty":                       {"the file is empty"},
		"empty_token_file":            {"bearer_token_file", "empty-secret is empty"},
		"ftp_scheme":                  {`url "ftp://prometheus:9090" does not start with http:// or https://`, "e.g. http://prometheus:9090"},
		"missing_name":                {"datasources[0]: name is empty"},
		"missing_url":                 {`datasource "default": url is empty`, "e.g. http://prometheus:9090"},
		"negative_max_points":         {"max_points_per_query -1 is negative"},
		"negative_timeout":            {"timeout -5s is negative", "such as 30s"},
		"no_datasources":              {"no datasources", "list at least one"},
		"no_scheme":                   {`url "prometheus:9090" does not start with http:// or https://`, "e.g. http://prometheus:9090"},
		"not_a_list":                  {"line 2", "datasources is a list"},
		"several_problems":            {`datasource "a": url is empty`, `datasource "b": url "prometheus:9090"`, "timeout -1s is negative"},
		"timeout_without_unit":        {"line 4", "time.Duration", "with its unit"},
		"tls_on_http":                 {"tls_config is set but url", "use an https url"},
		"token_and_basic_auth":        {"both a bearer token and basic_auth", "keep one"},
		"two_tokens":                  {"both bearer_token and bearer_token_file", "keep one"},
		"unknown_basic_auth_key":      {`line 5: unknown key "user" in basic_auth`, "the keys are username, password, password_file"},
		"unknown_key":                 {`line 5: unknown key "bearer_tokn" in a datasource`, "bearer_token_file"},
		"unknown_tls_key":             {`line 5: unknown key "ca" in tls_config`, "ca_file"},
		"unknown_top_key":             {`line 2: unknown key "datasource" at the top level`, "the keys are datasources"},
		"unreadable_password_file":    {"basic_auth.password_file", "no-such-password", "check the path"},
		"unreadable_token_file":       {"bearer_token_file", "no-such-token", "check the path"},
	}
	files, err := filepath.Glob("testdata/*.bad.yml")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".bad.yml")
		if _, ok := tests[name]; !ok {
			t.Errorf("%s has no expected message in this test", f)
		}
	}
	for name, want := range tests {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join("testdata", name+".bad.yml")
			_, err := LoadConfig(path)
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "datasource configuration "+path+": ") {
				t.Errorf("error does not name the file: %v", msg)
			}
			for _, w := range want {
				if !strings.Contains(msg, w) {
					t.Errorf("error does not say %q:\n%v", w, msg)
				}
			}
		})
	}
}

func TestLoadConfigMissingFile(t *testing.T) {
	_, err := LoadConfig(filepath.Join(t.TempDir(), "foresight.yml"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("err = %v, want one that matches os.ErrNotExist", err)
	}
}

func TestSingleConfig(t *testing.T) {
	tests := []struct {
		url     string
		wantErr string
	}{
		{url: "http://127.0.0.1:9090"},
		{url: "https://prometheus.example/prefix"},
		{url: "127.0.0.1:9090", wantErr: `datasource "default": url "127.0.0.1:9090" does not start with http:// or https://: write the scheme, e.g. http://127.0.0.1:9090`},
		{url: "", wantErr: `datasource "default": url is empty`},
		{url: "http://", wantErr: "has no host"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			cfg := SingleConfig(tt.url)
			want := Config{Datasources: []Datasource{{Name: DefaultName, URL: tt.url, Timeout: DefaultTimeout, MaxPointsPerQuery: DefaultMaxPointsPerQuery}}}
			if !reflect.DeepEqual(cfg, want) {
				t.Errorf("SingleConfig = %+v, want %+v", cfg, want)
			}
			set, err := NewSet(cfg, nil)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("NewSet: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("NewSet: err = %v, want one that says %q", err, tt.wantErr)
			case tt.wantErr == "":
				if c, err := set.Get(DefaultName); err != nil || c.Name() != DefaultName {
					t.Errorf("Get(%q) = %v, %v", DefaultName, c, err)
				}
			}
		})
	}
}

func TestSetGet(t *testing.T) {
	set, err := NewSet(Config{Datasources: []Datasource{
		{Name: "thanos", URL: "http://thanos:10902"},
		{Name: "default", URL: "http://prometheus:9090"},
	}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := set.Names(), []string{"default", "thanos"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Names() = %v, want %v", got, want)
	}
	if c, err := set.Get("thanos"); err != nil || c.Name() != "thanos" {
		t.Errorf(`Get("thanos") = %v, %v`, c, err)
	}
	_, err = set.Get("victoria")
	if !errors.Is(err, ErrUnknownDatasource) {
		t.Errorf(`Get("victoria"): err = %v, want ErrUnknownDatasource`, err)
	}
	want := `unknown datasource "victoria": the configured datasources are "default", "thanos"; use one of them, or add "victoria" to the configuration`
	if err == nil || err.Error() != want {
		t.Errorf("Get(\"victoria\"): err = %v\nwant %s", err, want)
	}
}

func TestDatasourceLogValueHidesSecrets(t *testing.T) {
	d := Datasource{Name: "x", URL: "http://p:9090", BearerToken: "s3cret", BasicAuth: &BasicAuth{Username: "u", Password: "pw-s3cret"}}
	if s := d.LogValue().String(); strings.Contains(s, "s3cret") {
		t.Errorf("LogValue shows a secret: %s", s)
	}
}
