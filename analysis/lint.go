package analysis

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/agentops/progressive"
)

// statusMatcher finds a label matcher on a status-code label, the numerator of an
// error or success ratio: code=~"5..", response_code="500", status!~"2..".
var statusMatcher = regexp.MustCompile(`\b(code|status|status_code|response_code|grpc_code)\s*(=~|!~|=|!=)\s*"[^"]*"`)

// Lint lists what will surprise the author of checks at run time without making
// them invalid. Today it finds ratio queries whose numerator selects status codes
// and has no "or on() vector(0)": the canary's 5xx series exists only after its
// first error, so until then the ratio is empty, as for a canary that serves
// nothing. The analysis waits for data during the warm-up and counts no data
// after it; writing the fallback makes "no errors yet" read 0. Fields are
// checks[i].query.
func Lint(checks []progressive.Check) []progressive.Warning {
	var out []progressive.Warning
	for i, c := range checks {
		if w, ok := lintNumerator(c); ok {
			out = append(out, progressive.Warning{Field: fmt.Sprintf("checks[%d].query", i), Message: w})
		}
	}
	return out
}

func lintNumerator(c progressive.Check) (string, bool) {
	expr, err := Render(c, sampleVars(), progressive.Canary)
	if err != nil {
		return "", false
	}
	num, _, isRatio := strings.Cut(expr, "/")
	if !isRatio || strings.Contains(expr, "vector(0)") || strings.Contains(expr, "vector(1)") {
		return "", false
	}
	m := statusMatcher.FindString(num)
	if m == "" {
		return "", false
	}
	return fmt.Sprintf("check %q divides series selected by %s, which do not exist until the canary's first "+
		"matching request: until then the ratio is empty, like a canary that serves nothing. The check waits "+
		"for data during its warm-up and then counts no data as %s. Write the numerator as "+
		"(sum(rate(...{...,%s}[...])) or on() vector(0)) so that none yet reads 0", c.Name, m,
		c.WithDefaults().NoData, m), true
}
