package prometheus

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
)

// Secret is a credential: a bearer token, a password, a header value. Printing it
// with fmt (%v, %s, %#v), logging it with log/slog or marshaling it to JSON gives
// "[redacted]", so an Options value can be logged or embedded in a decision record
// without leaking what it holds. Convert a string with Secret(s).
type Secret string

const redacted = "[redacted]"

// String returns "[redacted]" for a non-empty secret and "" for an empty one.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// GoString keeps %#v from printing the secret.
func (s Secret) GoString() string { return `"` + s.String() + `"` }

// LogValue keeps log/slog from printing the secret.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalJSON writes "[redacted]" (or "" for an empty secret): configuration that
// holds secrets can be recorded, never replayed with them.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// minRedactLen is the shortest secret the source scrubs from messages: replacing
// every "a" or "42" in an error message would make it unreadable, and so short a
// value protects nothing anyway.
const minRedactLen = 4

// redactor removes known secrets from text before it leaves the package in an
// error message or a log record.
type redactor struct {
	r *strings.Replacer
}

func newRedactor(secrets ...string) redactor {
	// Longer secrets first, so one that contains another is replaced whole.
	secrets = slices.Clone(secrets)
	slices.SortFunc(secrets, func(a, b string) int { return len(b) - len(a) })
	var pairs []string
	seen := map[string]bool{}
	for _, s := range secrets {
		if len(s) < minRedactLen || seen[s] {
			continue
		}
		seen[s] = true
		pairs = append(pairs, s, redacted)
	}
	if len(pairs) == 0 {
		return redactor{}
	}
	return redactor{r: strings.NewReplacer(pairs...)}
}

func (r redactor) clean(s string) string {
	if r.r == nil {
		return s
	}
	return r.r.Replace(s)
}

// redactedCopy returns o with the password of Address's user info replaced; the
// Secret fields print redacted by themselves.
func (o Options) redactedCopy() Options {
	if u, err := url.Parse(o.Address); err == nil && u.User != nil {
		o.Address = u.Redacted()
	} else if err != nil && strings.Contains(o.Address, "@") {
		o.Address = redacted
	}
	return o
}

// optionsPlain has the fields of Options and none of its methods.
type optionsPlain Options

// String prints the options with every credential redacted, for %v and %s.
func (o Options) String() string { return fmt.Sprintf("%+v", optionsPlain(o.redactedCopy())) }

// GoString prints the options with every credential redacted, for %#v.
func (o Options) GoString() string {
	return "prometheus.Options" + strings.TrimPrefix(fmt.Sprintf("%#v", optionsPlain(o.redactedCopy())), "prometheus.optionsPlain")
}

// LogValue logs the options with every credential redacted.
func (o Options) LogValue() slog.Value { return slog.StringValue(o.String()) }

// MarshalJSON writes the options with every credential redacted.
func (o Options) MarshalJSON() ([]byte, error) { return json.Marshal(optionsPlain(o.redactedCopy())) }
