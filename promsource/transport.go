package promsource

import "net/http"

// authTransport adds a datasource's Authorization header to each request,
// reading secret files each time so that rotated secrets are picked up.
type authTransport struct {
	next http.RoundTripper
	ds   Datasource
}

func (t *authTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	set, err := t.authorize()
	if err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	if set != nil {
		req = req.Clone(req.Context()) // a RoundTripper must not change its request
		set(req)
	}
	return t.next.RoundTrip(req)
}

// authorize returns what sets the request's credentials, or nil for none.
func (t *authTransport) authorize() (func(*http.Request), error) {
	switch ds := t.ds; {
	case ds.BearerToken != "" || ds.BearerTokenFile != "":
		token := ds.BearerToken
		if ds.BearerTokenFile != "" {
			var err error
			if token, err = readSecret(ds.BearerTokenFile, "bearer_token_file"); err != nil {
				return nil, err
			}
		}
		return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token) }, nil
	case ds.BasicAuth != nil:
		user, password := ds.BasicAuth.Username, ds.BasicAuth.Password
		if ds.BasicAuth.PasswordFile != "" {
			var err error
			if password, err = readSecret(ds.BasicAuth.PasswordFile, "basic_auth.password_file"); err != nil {
				return nil, err
			}
		}
		return func(r *http.Request) { r.SetBasicAuth(user, password) }, nil
	}
	return nil, nil
}
