package cli

import (
	"context"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/agentops/progressive"
	k8s "github.com/agentops/progressive/provider/kubernetes"
	"github.com/agentops/progressive/rollout"
	"github.com/agentops/progressive/rollout/document"
)

// HookConfig defines a hook a rollout document names without a URL (a
// blue-green migration, its smoke tests, a lifecycle hook): exactly one of
// Command, Job, or a webhook (URL or URLFrom). The document says when the
// hook runs and for how long (its timeout); the configuration says what it
// is in this environment.
//
//	hooks:
//	  migrate-add-column:
//	    job: {image: registry.example.com/orders-migrations:v3, args: [up]}
//	  smoke-tests:
//	    command: [./smoke.sh, --quick]
//	  deployments-channel:
//	    urlFrom: {env: SLACK_DEPLOYMENTS_URL}
type HookConfig struct {
	// Command runs as a local process (argv; the first element is looked up
	// in PATH, a relative path is relative to the configuration's
	// directory, which is also the working directory). It reads the hook
	// request as JSON on stdin and gets PROGRESSIVE_* variables; exit 0
	// passes, anything else fails the hook with the end of its stderr.
	Command []string `json:"command,omitempty"`
	// Timeout bounds one run of Command, within the document's hook
	// timeout (which applies whatever this says).
	Timeout string `json:"timeout,omitempty"`
	// Job runs a Kubernetes Job and waits for it to complete.
	Job *JobHookConfig `json:"job,omitempty"`
	// URL or URLFrom (a secret: {env: NAME} or {file: PATH}) make the hook
	// a webhook that receives the request as a JSON POST.
	URL     string              `json:"url,omitempty"`
	URLFrom *document.ValueFrom `json:"urlFrom,omitempty"`
	// SecretFrom signs a webhook's payloads (HMAC-SHA256 in
	// X-Progressive-Signature).
	SecretFrom *document.ValueFrom `json:"secretFrom,omitempty"`
}

// JobHookConfig is the Job of a job hook: one container.
type JobHookConfig struct {
	Image   string            `json:"image"`
	Command []string          `json:"command,omitempty"`
	Args    []string          `json:"args,omitempty"`
	Env     map[string]string `json:"env,omitempty"`
	// Namespace of the Job. Default: the rollout target's.
	Namespace string `json:"namespace,omitempty"`
}

// validateHooks reports every problem of the hooks section.
func validateHooks(add func(string, any, string), hooks map[string]HookConfig) {
	for _, name := range sortedKeys(hooks) {
		h := hooks[name]
		field := "hooks." + name
		kinds := []string{}
		if len(h.Command) > 0 {
			kinds = append(kinds, "command")
		}
		if h.Job != nil {
			kinds = append(kinds, "job")
		}
		if h.URL != "" || h.URLFrom != nil {
			kinds = append(kinds, "url")
		}
		if len(kinds) != 1 {
			add(field, strings.Join(kinds, ","), "set exactly one of command, job, or url/urlFrom")
		}
		if h.Command != nil && (len(h.Command) == 0 || h.Command[0] == "") {
			add(field+".command", h.Command, "must name a program: [program, arg...]")
		}
		if h.Timeout != "" {
			if d, err := time.ParseDuration(h.Timeout); err != nil || d <= 0 {
				add(field+".timeout", h.Timeout, "want a positive duration such as 2m")
			}
			if len(h.Command) == 0 {
				add(field+".timeout", h.Timeout, "only a command hook has its own timeout (the document's hook timeout bounds the others)")
			}
		}
		if j := h.Job; j != nil && j.Image == "" {
			add(field+".job.image", "", "must be set")
		}
		if h.URL != "" && h.URLFrom != nil {
			add(field+".url", h.URL, "url and urlFrom exclude each other")
		}
		if h.URL != "" {
			if u, err := url.Parse(h.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				add(field+".url", h.URL, "want an http or https URL")
			}
		}
		checkFrom(add, field+".urlFrom", h.URLFrom, false)
		checkFrom(add, field+".secretFrom", h.SecretFrom, false)
		if h.SecretFrom != nil && h.URL == "" && h.URLFrom == nil {
			add(field+".secretFrom", "set", "only a webhook signs its payloads")
		}
	}
}

// namedHooks are the hooks of a plan that name a Go hook (no URL), with
// where each stands, for messages.
func namedHooks(plan progressive.Plan) map[string]string {
	out := map[string]string{}
	for _, h := range plan.Hooks {
		if h.URL == "" && h.Name != "" {
			out[h.Name] = fmt.Sprintf("the %s hook", h.Phase)
		}
	}
	for i, st := range plan.Steps {
		if st.Hook != nil && st.Hook.Hook.URL == "" && st.Hook.Hook.Name != "" {
			out[st.Hook.Hook.Name] = fmt.Sprintf("step %d, %s", i+1, st.Name)
		}
	}
	return out
}

// checkHooks refuses a plan naming a hook the configuration does not define,
// naming both.
func (s *session) checkHooks(plan progressive.Plan) error {
	named := namedHooks(plan)
	var missing []string
	for _, name := range sortedKeys(named) {
		if _, ok := s.cfg.Hooks[name]; !ok {
			missing = append(missing, fmt.Sprintf("%q (%s)", name, named[name]))
		}
	}
	if len(missing) > 0 {
		where := "the default configuration"
		if s.cfg.path != "" {
			where = "config " + s.cfg.path
		}
		return invalidf("the rollout names hook(s) %s without a url, and %s does not define them under hooks: (defined: %s)",
			strings.Join(missing, ", "), where, orNone(sortedKeys(s.cfg.Hooks)))
	}
	return nil
}

// hooks builds the hooks plan names from the configuration.
func (s *session) hooks(ctx context.Context, plan progressive.Plan, dryRun bool) (map[string]rollout.Hook, error) {
	if err := s.checkHooks(plan); err != nil {
		return nil, err
	}
	named := namedHooks(plan)
	out := make(map[string]rollout.Hook, len(named))
	for name := range named {
		h, err := s.hook(ctx, name, s.cfg.Hooks[name], dryRun)
		if err != nil {
			return nil, err
		}
		out[name] = h
	}
	return out, nil
}

func orNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

func (s *session) hook(ctx context.Context, name string, hc HookConfig, dryRun bool) (rollout.Hook, error) {
	field := "hooks." + name
	switch {
	case len(hc.Command) > 0:
		timeout, _ := time.ParseDuration(hc.Timeout) // validated with the config
		return &commandHook{name: name, argv: hc.Command, dir: filepath.Dir(s.cfg.path), timeout: timeout}, nil
	case hc.Job != nil:
		p, err := s.kube(dryRun)
		if err != nil {
			return nil, err
		}
		c := corev1.Container{Name: "hook", Image: hc.Job.Image, Command: hc.Job.Command, Args: hc.Job.Args}
		for _, k := range sortedKeys(hc.Job.Env) {
			c.Env = append(c.Env, corev1.EnvVar{Name: k, Value: hc.Job.Env[k]})
		}
		spec := batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{c}}}}
		return p.JobHook(spec, k8s.JobHookOptions{Namespace: hc.Job.Namespace}), nil
	default:
		u := hc.URL
		if hc.URLFrom != nil {
			var err error
			if u, err = s.app.secret(ctx, s.cfg, field+".urlFrom", hc.URLFrom); err != nil {
				return nil, err
			}
		}
		secret, err := s.app.secret(ctx, s.cfg, field+".secretFrom", hc.SecretFrom)
		if err != nil {
			return nil, err
		}
		// The runner retries a transient failure itself, within the
		// document's timeout: the webhook makes one attempt per call. The
		// URL stays here rather than in the plan, so that it is never
		// stored with the rollout.
		return &rollout.Webhook{URL: u, Secret: []byte(secret)}, nil
	}
}
