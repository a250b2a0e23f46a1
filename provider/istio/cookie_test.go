package istio

import (
	"regexp"
	"testing"

	"github.com/agentops/progressive"
)

// TestCookieRegex: the Cookie-header regex of a cookie match matches the
// cookie wherever it is in the header (RE2, as Envoy uses), not a cookie whose
// name merely ends the same, and parses back to the match.
func TestCookieRegex(t *testing.T) {
	cases := []struct {
		m       progressive.Match
		match   []string
		nomatch []string
	}{
		{
			m:       progressive.Match{Kind: progressive.MatchCookie, Name: "beta", Value: "true"},
			match:   []string{"beta=true", "a=1; beta=true", "a=1;beta=true; b=2"},
			nomatch: []string{"xbeta=true", "beta=truex", "beta=false", "a=beta=true"},
		},
		{
			m:       progressive.Match{Kind: progressive.MatchCookie, Name: "v.x", Value: "1+2"},
			match:   []string{"v.x=1+2"},
			nomatch: []string{"vax=1+2", "v.x=12"},
		},
		{
			m:       progressive.Match{Kind: progressive.MatchCookie, Name: "group", Value: "green|blue", Regex: true},
			match:   []string{"group=green", "a=1; group=blue"},
			nomatch: []string{"group=red"},
		},
	}
	for _, c := range cases {
		s := cookieRegex(c.m)
		re := regexp.MustCompile(s)
		for _, h := range c.match {
			if !re.MatchString(h) {
				t.Errorf("%+v: %q does not match Cookie: %s", c.m, s, h)
			}
		}
		for _, h := range c.nomatch {
			if re.MatchString(h) {
				t.Errorf("%+v: %q matches Cookie: %s", c.m, s, h)
			}
		}
		back, ok := parseCookie(s)
		if !ok || back != c.m {
			t.Errorf("parseCookie(%q) = %+v, %v; want %+v", s, back, ok, c.m)
		}
	}
}
