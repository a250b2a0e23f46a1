package anchors

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// auditPolicy logs every request once it is answered (and a watch once it
// has started), with its metadata only: who, which user agent, which verb on
// which object, when. RequestReceived is left out so that a request is one
// line (two for a long-running one, deduplicated by audit ID).
const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: Metadata
`

// auditArgs writes the audit policy into dir and returns the kube-apiserver
// flags that log to dir/audit.log. The log backend is blocking: an event is
// written before its response is sent, so a request a tool got an answer to
// is already in the file.
func auditArgs(dir string) ([]string, error) {
	policy := filepath.Join(dir, "audit-policy.yaml")
	if err := os.WriteFile(policy, []byte(auditPolicy), 0o644); err != nil {
		return nil, fmt.Errorf("anchors: audit policy: %w", err)
	}
	return []string{
		"--audit-policy-file=" + policy,
		"--audit-log-path=" + filepath.Join(dir, "audit.log"),
		"--audit-log-mode=blocking",
		"--audit-log-format=json",
		"--audit-log-maxsize=0", // no rotation: the reader follows one file
	}, nil
}

// Request is one API request from the audit log.
type Request struct {
	// At is when the kube-apiserver received it.
	At        time.Time
	UserAgent string
	User      string
	// Verb is the Kubernetes verb (get, list, watch, create, update,
	// patch, delete); Resource, Subresource, APIGroup and Namespace name
	// its object (Namespace is empty for a cluster-scoped request or a
	// list across namespaces).
	Verb, Resource, Subresource, APIGroup, Namespace, Name string
	Code                                                   int
}

// Write reports whether the request changed something (not a read).
func (r Request) Write() bool {
	switch r.Verb {
	case "get", "list", "watch":
		return false
	}
	return true
}

// RequestFilter selects requests; zero fields select all.
type RequestFilter struct {
	// UserAgent is a prefix of the user agent, e.g. "flagger/",
	// "rollouts-controller/", "progressive/" (client-go's default user agent
	// begins with the program's file name).
	UserAgent string
	// Namespace, when set, keeps only requests in that namespace (a
	// controller's namespaced work; its cluster-wide lists and watches have
	// none).
	Namespace string
	// From and To bound the receive time (To zero: no bound).
	From, To time.Time
}

func (f RequestFilter) match(r Request) bool {
	return strings.HasPrefix(r.UserAgent, f.UserAgent) &&
		(f.Namespace == "" || r.Namespace == f.Namespace) &&
		!r.At.Before(f.From) && (f.To.IsZero() || !r.At.After(f.To))
}

// AuditLog reads the kube-apiserver's audit log as it grows.
type AuditLog struct {
	path string

	mu       sync.Mutex
	f        *os.File
	partial  []byte
	seen     map[string]struct{} // audit IDs already read (long-running requests log twice)
	requests []Request
}

// OpenAuditLog follows the audit log at path (created by the kube-apiserver).
func OpenAuditLog(path string) (*AuditLog, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("anchors: audit log: %w", err)
	}
	return &AuditLog{path: path, f: f, seen: map[string]struct{}{}}, nil
}

// Close closes the file.
func (l *AuditLog) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f != nil {
		_ = l.f.Close()
		l.f = nil
	}
}

// auditEvent holds the fields of an audit.k8s.io/v1 Event that are read.
type auditEvent struct {
	AuditID   string    `json:"auditID"`
	Stage     string    `json:"stage"`
	Verb      string    `json:"verb"`
	UserAgent string    `json:"userAgent"`
	Received  time.Time `json:"requestReceivedTimestamp"`
	User      struct {
		Username string `json:"username"`
	} `json:"user"`
	ObjectRef *struct {
		Resource, Namespace, Name, APIGroup, Subresource string
	} `json:"objectRef"`
	ResponseStatus *struct {
		Code int `json:"code"`
	} `json:"responseStatus"`
}

// readLocked reads what was appended since the last read.
func (l *AuditLog) readLocked() error {
	if l.f == nil {
		return fmt.Errorf("anchors: audit log %s closed", l.path)
	}
	data, err := io.ReadAll(l.f)
	if err != nil {
		return fmt.Errorf("anchors: audit log: %w", err)
	}
	data = append(l.partial, data...)
	end := bytes.LastIndexByte(data, '\n')
	if end < 0 {
		l.partial = data
		return nil
	}
	l.partial = append([]byte(nil), data[end+1:]...)
	for line := range bytes.SplitSeq(data[:end], []byte{'\n'}) {
		var ev auditEvent
		if len(line) == 0 || json.Unmarshal(line, &ev) != nil {
			continue
		}
		if _, dup := l.seen[ev.AuditID]; dup {
			continue
		}
		l.seen[ev.AuditID] = struct{}{}
		r := Request{At: ev.Received, UserAgent: ev.UserAgent, User: ev.User.Username, Verb: ev.Verb}
		if o := ev.ObjectRef; o != nil {
			r.Resource, r.Subresource, r.APIGroup, r.Namespace, r.Name = o.Resource, o.Subresource, o.APIGroup, o.Namespace, o.Name
		}
		if ev.ResponseStatus != nil {
			r.Code = ev.ResponseStatus.Code
		}
		l.requests = append(l.requests, r)
	}
	return nil
}

// Requests returns the requests f selects, read up to now, in log order
// (the order the kube-apiserver answered them).
func (l *AuditLog) Requests(f RequestFilter) ([]Request, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.readLocked(); err != nil {
		return nil, err
	}
	var out []Request
	for _, r := range l.requests {
		if f.match(r) {
			out = append(out, r)
		}
	}
	return out, nil
}

// Count is len(Requests(f)), 0 on error.
func (l *AuditLog) Count(f RequestFilter) int {
	rs, _ := l.Requests(f)
	return len(rs)
}

// CountRequests counts the API requests whose user agent begins with
// userAgentPrefix ("flagger/", "rollouts-controller/", "progressive/"),
// received in [from, to], in namespace ns ("" for every namespace and the
// cluster-scoped ones). The audit log is written before each response, so a
// request a tool was answered before to is counted.
func (a *Anchors) CountRequests(userAgentPrefix, ns string, from, to time.Time) int {
	return a.Audit.Count(RequestFilter{UserAgent: userAgentPrefix, Namespace: ns, From: from, To: to})
}
