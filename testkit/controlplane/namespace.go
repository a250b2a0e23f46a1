package controlplane

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// NamespaceLabel is set on namespaces made by CreateNamespace and
// NewNamespace, with the (sanitised) prefix or test name as value.
const NamespaceLabel = "testenv.progressive/namespace-for"

// CreateNamespace creates a namespace with a unique name starting with
// prefix (sanitised to a DNS label) and waits until its "default"
// ServiceAccount exists, so pods can be created in it right away. The
// caller deletes it (see DeleteNamespace), or uses NewNamespace.
func (e *Env) CreateNamespace(ctx context.Context, prefix string) (string, error) {
	ctx, cancel := waitCtx(ctx, 30*time.Second)
	defer cancel()
	base := dnsLabel(prefix)
	if len(base) > 50 {
		base = strings.TrimRight(base[:50], "-")
	}
	suffix := make([]byte, 3)
	_, _ = rand.Read(suffix)
	name := base + "-" + hex.EncodeToString(suffix)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{NamespaceLabel: base}}}
	if _, err := e.clientset.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		return "", fmt.Errorf("controlplane: creating namespace %s: %w", name, err)
	}
	err := e.waitFor(ctx, "ServiceAccount default in namespace "+name, func(ctx context.Context) error {
		_, err := e.clientset.CoreV1().ServiceAccounts(name).Get(ctx, "default", metav1.GetOptions{})
		return err
	})
	if err != nil {
		return "", err
	}
	return name, nil
}

// DeleteNamespace deletes a namespace without waiting for it to be gone
// (the namespace controller and kwok finish the job in the background).
func (e *Env) DeleteNamespace(ctx context.Context, name string) error {
	policy := metav1.DeletePropagationBackground
	err := e.clientset.CoreV1().Namespaces().Delete(ctx, name, metav1.DeleteOptions{PropagationPolicy: &policy})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("controlplane: deleting namespace %s: %w", name, err)
	}
	return nil
}

// NewNamespace creates a unique namespace named after the test and deletes
// it when the test ends. It fails the test if the namespace cannot be
// created.
func (e *Env) NewNamespace(t testing.TB) string {
	t.Helper()
	name, err := e.CreateNamespace(context.Background(), "t-"+t.Name())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := e.DeleteNamespace(ctx, name); err != nil {
			t.Log(err)
		}
	})
	return name
}

// dnsLabel lowercases s and replaces everything but [a-z0-9] with '-'.
func dnsLabel(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	out := strings.Trim(b.String(), "-")
	for strings.Contains(out, "--") {
		out = strings.ReplaceAll(out, "--", "-")
	}
	if out == "" || out[0] < 'a' {
		out = "ns-" + out
	}
	return strings.TrimRight(out, "-")
}
