package prometheus

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/internal/redact"
)

// BasicAuth are HTTP basic authentication credentials.
type BasicAuth struct {
	Username string `json:"username"`
	Password Secret `json:"password"`
}

// TLSOptions configure the connection to an https Address. The zero value verifies
// the server against the system's roots.
type TLSOptions struct {
	// CAFile is a PEM file of certificate authorities to verify the server with,
	// instead of the system's roots. It is read once, by New.
	CAFile string `json:"caFile,omitempty"`
	// ServerName overrides the name the server's certificate is checked against
	// (default: the host of Address).
	ServerName string `json:"serverName,omitempty"`
	// InsecureSkipVerify accepts any certificate. It is never turned on implicitly;
	// New logs a warning when it is set. For tests and emergencies only.
	InsecureSkipVerify bool `json:"insecureSkipVerify,omitempty"`
}

func (t TLSOptions) isZero() bool { return t == TLSOptions{} }

// config builds the client TLS configuration.
func (t TLSOptions) config() (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify} //nolint:gosec // only when explicitly asked for
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("prometheus: TLS.CAFile: %w: %w", err, progressive.ErrInvalid)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("prometheus: TLS.CAFile %s holds no PEM certificate: %w", t.CAFile, progressive.ErrInvalid)
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

// endpoint is a parsed, credential-free Address.
type endpoint struct {
	url      *url.URL // without user info
	redacted string   // for messages
	// userinfo found in the address, if any
	user     string
	password string
	hasUser  bool
}

func parseAddress(address string) (endpoint, error) {
	if strings.TrimSpace(address) == "" {
		return endpoint{}, fmt.Errorf("prometheus: Options.Address is required (for example http://prometheus.monitoring:9090): %w", progressive.ErrInvalid)
	}
	u, err := url.Parse(address)
	if err != nil {
		// url.Parse errors quote the input, which may hold a password.
		return endpoint{}, fmt.Errorf("prometheus: Options.Address does not parse as a URL: %w", progressive.ErrInvalid)
	}
	// What messages show of the address: never its user info or its query
	// (?api_key=...), which it may hold until it is refused below.
	shown := redact.URL(address)
	var ep endpoint
	if u.User != nil {
		ep.hasUser = true
		ep.user = u.User.Username()
		ep.password, _ = u.User.Password()
		u.User = nil
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return endpoint{}, fmt.Errorf("prometheus: Options.Address %s: the scheme must be http or https: %w", shown, progressive.ErrInvalid)
	}
	if u.Host == "" {
		return endpoint{}, fmt.Errorf("prometheus: Options.Address %s: no host: %w", shown, progressive.ErrInvalid)
	}
	// url.Parse checks that a port is digits, not that it is one: :99999 would
	// fail every query as a dial error, held and retried instead of refused.
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return endpoint{}, fmt.Errorf("prometheus: Options.Address %s: the port must be 1 to 65535: %w", shown, progressive.ErrInvalid)
		}
	}
	if u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return endpoint{}, fmt.Errorf("prometheus: Options.Address %s: must not have a query or fragment (credentials go in BearerToken, BasicAuth or Headers): %w", shown, progressive.ErrInvalid)
	}
	ep.url = u
	ep.redacted = u.String()
	return ep, nil
}

// authTransport adds the credentials and extra headers to requests for the
// configured origin only: a redirect to another host never carries them.
type authTransport struct {
	base          http.RoundTripper
	scheme, host  string
	authorization string
	headers       http.Header
	hostHeader    string
}

func (t *authTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != t.scheme || !strings.EqualFold(req.URL.Host, t.host) {
		return t.base.RoundTrip(req)
	}
	r := req.Clone(req.Context())
	for k, vs := range t.headers {
		r.Header[k] = append([]string(nil), vs...)
	}
	if t.hostHeader != "" {
		r.Host = t.hostHeader
	}
	if t.authorization != "" {
		r.Header.Set("Authorization", t.authorization)
	}
	return t.base.RoundTrip(r)
}

// transport is what New derives from Options: the HTTP client, the secrets to
// scrub from messages and the answer size limit.
type transport struct {
	client  *http.Client
	secrets []string
	maxBody int64
}

// errTooLarge is the read error of an answer longer than the limit; classify
// turns it into a QueryError of Type TypeTooLarge.
type errTooLarge struct{ limit int64 }

func (e *errTooLarge) Error() string {
	return fmt.Sprintf("the answer is larger than the %s limit (Options.MaxBody); not read further", size(e.limit))
}

// size formats a byte count for messages: "8 MiB", "1500 bytes".
func size(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// limitTransport caps the body of every answer. client_golang reads an answer
// whole (bytes.Buffer.ReadFrom) before it looks at it, so the cap has to sit
// under it, on the body the transport returns.
type limitTransport struct {
	base  http.RoundTripper
	limit int64
}

func (t *limitTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil || resp.Body == nil {
		return resp, err
	}
	resp.Body = &limitedBody{ReadCloser: resp.Body, left: t.limit, limit: t.limit}
	return resp, nil
}

// limitedBody reads at most limit bytes, then fails with *errTooLarge if more
// follow (reading one byte past the limit tells an answer of exactly limit bytes
// from a longer one).
type limitedBody struct {
	io.ReadCloser
	left, limit int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left < 0 {
		return 0, &errTooLarge{limit: b.limit}
	}
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	if b.left < 0 {
		// The byte past the limit is not handed on.
		return n - 1, &errTooLarge{limit: b.limit}
	}
	return n, err
}

// hasControl reports whether s holds a control character: a byte below 0x20
// or DEL.
func hasControl(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0
}

func buildTransport(o Options, ep endpoint) (transport, error) {
	var p progressive.Problems
	var secrets []string
	basic := o.BasicAuth
	if ep.hasUser {
		if basic != nil {
			p.Add("address", ep.redacted, "has user info and BasicAuth is set too; use one")
		} else {
			basic = &BasicAuth{Username: ep.user, Password: Secret(ep.password)}
		}
	}
	if basic != nil && o.BearerToken != "" {
		p.Add("bearerToken", nil, "set either BearerToken or BasicAuth, not both")
	}
	// net/http refuses a request whose header holds a control character, so
	// a credential holding one would fail every query; none is quoted here.
	if hasControl(string(o.BearerToken)) {
		p.Add("bearerToken", nil, "must not contain control characters (line breaks, NUL, DEL)")
	}
	if basic != nil {
		user, pass := "basicAuth.username", "basicAuth.password"
		if o.BasicAuth == nil { // from the address's user info
			user, pass = "address", "address"
		}
		if hasControl(basic.Username) {
			p.Add(user, nil, "must not contain control characters (line breaks, NUL, DEL)")
		}
		if strings.Contains(basic.Username, ":") {
			p.Add(user, nil, "must not contain ':', which separates the user name from the password (RFC 7617)")
		}
		if hasControl(string(basic.Password)) {
			p.Add(pass, nil, "must not contain control characters (line breaks, NUL, DEL)")
		}
	}
	auth := ""
	switch {
	case o.BearerToken != "":
		auth = "Bearer " + string(o.BearerToken)
		secrets = append(secrets, string(o.BearerToken), auth)
	case basic != nil:
		enc := base64.StdEncoding.EncodeToString([]byte(basic.Username + ":" + string(basic.Password)))
		auth = "Basic " + enc
		secrets = append(secrets, string(basic.Password), enc)
	}
	headers := http.Header{}
	hostHeader := ""
	for k, v := range o.Headers {
		ck := http.CanonicalHeaderKey(k)
		switch {
		case ck == "" || strings.ContainsAny(ck, " \t\r\n:"):
			p.Add("headers", k, "is not a valid header name")
			continue
		case hasControl(string(v)):
			p.Add("headers["+ck+"]", nil, "the value must not contain control characters (line breaks, NUL, DEL)")
			continue
		case ck == "Authorization" && auth != "":
			p.Add("headers[Authorization]", nil, "conflicts with BearerToken or BasicAuth; set one of them")
			continue
		case ck == "Host":
			hostHeader = string(v)
		default:
			headers.Set(ck, string(v))
		}
		secrets = append(secrets, string(v))
	}
	if o.HTTPClient != nil && !o.TLS.isZero() {
		p.Add("tls", nil, "applies to the transport New builds; with HTTPClient set, configure TLS on that client's transport")
	}
	if ep.url.Scheme == "http" && !o.TLS.isZero() {
		p.Add("tls", nil, "is set but Address %s is not https", ep.redacted)
	}
	if err := p.Err(); err != nil {
		return transport{}, fmt.Errorf("prometheus: options: %w", err)
	}

	var client http.Client
	var base http.RoundTripper
	if o.HTTPClient != nil {
		client = *o.HTTPClient
		base = client.Transport
		if base == nil {
			base = http.DefaultTransport
		}
	} else {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		if !o.TLS.isZero() {
			cfg, err := o.TLS.config()
			if err != nil {
				return transport{}, err
			}
			tr.TLSClientConfig = cfg
		}
		base = tr
	}
	if auth != "" || len(headers) > 0 || hostHeader != "" {
		base = &authTransport{
			base: base, scheme: ep.url.Scheme, host: ep.url.Host,
			authorization: auth, headers: headers, hostHeader: hostHeader,
		}
	}
	maxBody := o.MaxBody
	if maxBody == 0 {
		maxBody = DefaultMaxBody
	}
	client.Transport = &limitTransport{base: base, limit: maxBody}
	return transport{client: &client, secrets: secrets, maxBody: maxBody}, nil
}
