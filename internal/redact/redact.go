// Package redact turns URLs into text that is safe for errors, logs, events and
// decision records. Credentials travel in URLs more often than they should: user
// info (https://user:password@host), query strings (?api_key=..., ?token=...) and,
// for webhooks, the path itself (a Slack incoming webhook's
// /services/T000/B000/XXXX is its only secret). Both functions keep what a person
// needs to tell which endpoint failed (the scheme and the host) and never return a
// credential, whatever the input: an input that does not parse is not echoed at all.
package redact

import (
	"net/url"
	"strings"
)

// Unparseable stands for an input that does not parse as a URL. Parse errors
// quote their input, so neither the input nor the error is shown.
const Unparseable = "[unparseable URL]"

// Marker replaces a redacted part.
const Marker = "[redacted]"

// URL returns raw with its user info and its query replaced by "[redacted]" and
// its fragment dropped; scheme, host and path are kept:
//
//	https://alice:s3cret@prom.example.com/api?api_key=abc  ->  https://[redacted]@prom.example.com/api?[redacted]
//
// It never fails: an input that does not parse gives "[unparseable URL]", and one
// without a scheme and host (an opaque "user:password@host" or "mailto:...")
// keeps only what precedes the first colon.
func URL(raw string) string {
	u, ok := parse(raw)
	if !ok {
		return Unparseable
	}
	if u.Opaque != "" {
		// "user:password@host" parses as scheme "user" with an opaque rest: the
		// rest may be anything, so it goes.
		return u.Scheme + ":" + Marker
	}
	var b strings.Builder
	origin(&b, u)
	b.WriteString(u.EscapedPath())
	if u.RawQuery != "" || u.ForceQuery {
		b.WriteString("?" + Marker)
	}
	return b.String()
}

// WebhookURL returns only the scheme and host of raw, followed by a note of
// what was removed:
//
//	https://hooks.slack.com/services/T000/B000/XXXX  ->  https://hooks.slack.com/ (path redacted)
//	https://u:p@hooks.example.com/x?token=1          ->  https://hooks.example.com/ (credentials, path and query redacted)
//
// A webhook's path is often its only credential, so unlike URL it drops the path
// as well. It never fails, as URL.
func WebhookURL(raw string) string {
	u, ok := parse(raw)
	if !ok {
		return Unparseable
	}
	if u.Opaque != "" {
		return u.Scheme + ":" + Marker
	}
	var b strings.Builder
	b.WriteString(u.Scheme)
	if u.Scheme != "" {
		b.WriteString("://")
	}
	b.WriteString(u.Host)
	b.WriteString("/")
	var gone []string
	if u.User != nil {
		gone = append(gone, "credentials")
	}
	if p := u.EscapedPath(); p != "" && p != "/" {
		gone = append(gone, "path")
	}
	if u.RawQuery != "" || u.ForceQuery {
		gone = append(gone, "query")
	}
	if u.Fragment != "" {
		gone = append(gone, "fragment")
	}
	if len(gone) > 0 {
		b.WriteString(" (" + list(gone) + " redacted)")
	}
	return b.String()
}

// parse is url.Parse of the trimmed input; its error is dropped because it
// quotes the input.
func parse(raw string) (*url.URL, bool) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return nil, false
	}
	return u, true
}

// origin writes scheme://[redacted]@host, user info marked rather than dropped
// so a reader knows the URL carried some.
func origin(b *strings.Builder, u *url.URL) {
	if u.Scheme != "" {
		b.WriteString(u.Scheme + ":")
	}
	if u.Host != "" || u.User != nil {
		b.WriteString("//")
		if u.User != nil {
			b.WriteString(Marker + "@")
		}
		b.WriteString(u.Host)
	}
}

func list(parts []string) string {
	switch len(parts) {
	case 1:
		return parts[0]
	default:
		return strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1]
	}
}
