package document

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/agentops/progressive"
	"github.com/agentops/progressive/internal/shortdur"
	"github.com/agentops/progressive/rollout"
	"go.yaml.in/yaml/v3"
)

// FromRecord exports a promoted rollout as a template other services can
// reuse (the guide's Law 5: share patterns): its strategy and checks as they
// ran, with the service, namespace, version and image as parameters, each
// threshold a parameter whose default is the value that held, described with
// what was measured against it, and each webhook URL read from an environment
// variable rather than written down.
//
// rec is the rollout's decision record and plan its plan (rollout.Runner.Get
// returns the state holding both): a record tells its steps in prose, not as
// values. Its checks it does hold as values (Solution.CheckSpecs), but with
// their defaults filled in; the template takes the plan's checks as they were
// written, so that a default changed later still reaches the services that
// reuse it. A record that did not end promoted is refused, with an error naming
// its outcome: the thresholds of a rolled-back rollout did not hold.
func FromRecord(rec rollout.DecisionRecord, plan progressive.Plan) (*Template, error) {
	if rec.Impact.Outcome != rollout.OutcomePromoted {
		return nil, fmt.Errorf("document: rollout %s ended %s, not promoted: only a rollout whose checks held is a pattern to repeat: %w",
			rec.ID, rec.Impact.Outcome, progressive.ErrInvalid)
	}
	if rec.ID != plan.Name {
		return nil, fmt.Errorf("document: the record is of rollout %q but the plan is %q: %w", rec.ID, plan.Name, progressive.ErrInvalid)
	}
	doc, err := FromPlan(plan)
	if err != nil {
		return nil, err
	}
	doc.Metadata = Metadata{} // the rendered rollout derives its own name
	text, err := Encode(doc, JSON)
	if err != nil {
		return nil, err
	}
	body, err := jsonToNode(text)
	if err != nil {
		return nil, err
	}
	deleteKey(body, "metadata")

	t := &Template{
		Metadata: TemplateMetadata{
			Name: dnsName(plan.Target.Name + "-" + plan.Strategy),
			Description: fmt.Sprintf("Exported from rollout %s of %s, promoted after %s: %s",
				rec.ID, rec.Context.Service, shortdur.String(time.Duration(rec.Impact.Duration)), plan.Reason),
		},
		body: body,
	}
	param := func(p Parameter, path ...string) {
		if n := nodeAt(body, path...); n != nil {
			t.Parameters = append(t.Parameters, p)
			n.Value, n.Tag, n.Style = "${"+p.Name+"}", "!!str", 0
		}
	}
	str := func(s string) *string { return &s }
	param(Parameter{Name: "service", Type: ParamName, Required: true, Description: "The service to roll out."}, "spec", "target", "name")
	param(Parameter{Name: "namespace", Type: ParamName, Default: str(plan.Target.Namespace), Description: "The service's namespace."}, "spec", "target", "namespace")
	param(Parameter{Name: "version", Type: ParamVersion, Required: true, Description: "The new release's version label."}, "spec", "release", "version")
	param(Parameter{Name: "image", Type: ParamImage, Default: str(""), Description: "The new release's image; empty keeps the pod template's."}, "spec", "release", "image")

	for i, c := range plan.Checks {
		idx := strconv.Itoa(i)
		held := heldDescription(rec, c.Name)
		for _, b := range []struct {
			field string
			v     *float64
		}{{"min", c.Min}, {"max", c.Max}} {
			if b.v == nil {
				continue
			}
			param(Parameter{
				Name: camel(c.Name) + strings.ToUpper(b.field[:1]) + b.field[1:], Type: ParamNumber,
				Default:     str(strconv.FormatFloat(*b.v, 'g', -1, 64)),
				Description: fmt.Sprintf("The %s of check %s. %s", b.field, c.Name, held),
			}, "spec", "checks", idx, b.field)
		}
	}
	hooks := nodeAt(body, "spec", "hooks")
	for i, h := range plan.Hooks {
		if h.URL == "" || hooks == nil {
			continue
		}
		hook := nodeAt(hooks, strconv.Itoa(i))
		name := camel(h.Name) + "URLEnv"
		env := envName(h.Name) + "_URL"
		t.Parameters = append(t.Parameters, Parameter{Name: name, Default: &env,
			Description: fmt.Sprintf("The environment variable holding hook %s's URL (the exported rollout's URL is not copied: it may be a secret).", h.Name)})
		deleteKey(hook, "url")
		hook.Content = append(hook.Content, strNode("urlFrom"), &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map",
			Content: []*yaml.Node{strNode("env"), strNode("${" + name + "}")}})
	}
	return t, nil
}

// heldDescription says what a check measured during the rollout.
func heldDescription(rec rollout.DecisionRecord, check string) string {
	n, lo, hi := 0, math.Inf(1), math.Inf(-1)
	for _, m := range rec.Observations {
		if m.Check != check || math.IsNaN(m.Value) || math.IsInf(m.Value, 0) {
			continue
		}
		n++
		lo, hi = math.Min(lo, m.Value), math.Max(hi, m.Value)
	}
	if n == 0 {
		return fmt.Sprintf("Rollout %s recorded no value of it.", rec.ID)
	}
	return fmt.Sprintf("It held in rollout %s: %d measurements between %s and %s.", rec.ID, n,
		strconv.FormatFloat(lo, 'g', 4, 64), strconv.FormatFloat(hi, 'g', 4, 64))
}

// nodeAt follows mapping keys and sequence indices from n; nil when absent.
func nodeAt(n *yaml.Node, path ...string) *yaml.Node {
	for _, p := range path {
		switch n.Kind {
		case yaml.MappingNode:
			var next *yaml.Node
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == p {
					next = n.Content[i+1]
				}
			}
			if next == nil {
				return nil
			}
			n = next
		case yaml.SequenceNode:
			i, err := strconv.Atoi(p)
			if err != nil || i < 0 || i >= len(n.Content) {
				return nil
			}
			n = n.Content[i]
		default:
			return nil
		}
	}
	return n
}

func deleteKey(n *yaml.Node, key string) {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			n.Content = append(n.Content[:i], n.Content[i+2:]...)
			return
		}
	}
}

// camel turns a check or hook name into a parameter name: error-rate -> errorRate.
func camel(s string) string {
	var b strings.Builder
	up := false
	for _, r := range s {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			if r < 0x80 {
				if up && b.Len() > 0 {
					r = unicode.ToUpper(r)
				}
				if b.Len() == 0 && !unicode.IsLetter(r) {
					b.WriteString("p")
				}
				b.WriteRune(r)
			}
			up = false
		default:
			up = true
		}
	}
	if b.Len() == 0 {
		return "p"
	}
	out := b.String()
	if len(out) > 50 {
		out = out[:50]
	}
	return out
}

// envName turns a hook name into an environment variable name: slack-rollback
// -> SLACK_ROLLBACK.
func envName(s string) string {
	var b strings.Builder
	for _, r := range strings.ToUpper(s) {
		if (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return strings.Trim(b.String(), "_")
}

// dnsName makes s a DNS-1123 label for a template's name.
func dnsName(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	out := strings.Trim(b.String(), "-")
	if len(out) > 63 {
		out = strings.Trim(out[:63], "-")
	}
	return out
}
