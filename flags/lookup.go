package flags

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/agentops/progressive"
)

// LookupEnvironment picks the environment a flag reference names among the
// ones a FlagStore adapter was configured with. An empty name means the only
// one, so single-environment programs need not repeat it; with several, or
// with a name that is not configured, the error (progressive.ErrInvalid) lists
// the known names. provider prefixes the error ("launchdarkly", "flagsmith").
func LookupEnvironment[E any](provider string, envs map[string]E, name string) (E, error) {
	if name == "" && len(envs) == 1 {
		for _, e := range envs {
			return e, nil
		}
	}
	if e, ok := envs[name]; ok {
		return e, nil
	}
	var zero E
	known := strings.Join(slices.Sorted(maps.Keys(envs)), ", ")
	if name == "" {
		return zero, fmt.Errorf("%s: the flag names no environment and the store has several (%s): %w", provider, known, progressive.ErrInvalid)
	}
	return zero, fmt.Errorf("%s: unknown environment %q (known: %s): %w", provider, name, known, progressive.ErrInvalid)
}
