package controlplane

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// pki holds the throwaway certificates of one Env, all in PEM.
type pki struct {
	caCert, caKey         []byte
	servingCert, servKey  []byte
	adminCert, adminKey   []byte
	saPublic, saPrivate   []byte
	caCertObj             *x509.Certificate
	caSigner              crypto.Signer
	caFile, caKeyFile     string
	servingFile, servFile string // cert, key
	saPubFile, saKeyFile  string
}

func newSerial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
}

func encodeKey(k crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// signCert creates a certificate for a new P-256 key, signed by the CA (or
// self-signed when tmpl is the CA itself).
func (p *pki) signCert(tmpl *x509.Certificate) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	if tmpl.SerialNumber, err = newSerial(); err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl.NotBefore = now.Add(-time.Hour)
	tmpl.NotAfter = now.Add(7 * 24 * time.Hour)
	parent, signer := p.caCertObj, p.caSigner
	if parent == nil { // self-signed CA
		parent, signer = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), signer)
	if err != nil {
		return nil, nil, err
	}
	if p.caCertObj == nil {
		if p.caCertObj, err = x509.ParseCertificate(der); err != nil {
			return nil, nil, err
		}
		p.caSigner = key
	}
	keyPEM, err = encodeKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), keyPEM, nil
}

// newPKI creates a CA, an apiserver serving certificate for 127.0.0.1 and
// localhost, an admin client certificate in group system:masters and an RSA
// key pair for service-account tokens, and writes them to dir.
func newPKI(dir string) (*pki, error) {
	p := &pki{}
	var err error
	if p.caCert, p.caKey, err = p.signCert(&x509.Certificate{
		Subject:               pkix.Name{CommonName: "progressive-testenv-ca"},
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
	}); err != nil {
		return nil, fmt.Errorf("controlplane: CA: %w", err)
	}
	if p.servingCert, p.servKey, err = p.signCert(&x509.Certificate{
		Subject:     pkix.Name{CommonName: "kube-apiserver"},
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("10.0.0.1")},
		DNSNames: []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
			"kubernetes.default.svc.cluster.local"},
	}); err != nil {
		return nil, fmt.Errorf("controlplane: serving certificate: %w", err)
	}
	if p.adminCert, p.adminKey, err = p.signCert(&x509.Certificate{
		Subject:     pkix.Name{CommonName: "testenv-admin", Organization: []string{"system:masters"}},
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}); err != nil {
		return nil, fmt.Errorf("controlplane: admin certificate: %w", err)
	}
	saKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("controlplane: service-account key: %w", err)
	}
	if p.saPrivate, err = encodeKey(saKey); err != nil {
		return nil, err
	}
	pubDER, err := x509.MarshalPKIXPublicKey(saKey.Public())
	if err != nil {
		return nil, err
	}
	p.saPublic = pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})

	p.caFile = filepath.Join(dir, "ca.crt")
	p.caKeyFile = filepath.Join(dir, "ca.key")
	p.servingFile = filepath.Join(dir, "apiserver.crt")
	p.servFile = filepath.Join(dir, "apiserver.key")
	p.saPubFile = filepath.Join(dir, "sa.pub")
	p.saKeyFile = filepath.Join(dir, "sa.key")
	for path, data := range map[string][]byte{
		p.caFile: p.caCert, p.caKeyFile: p.caKey,
		p.servingFile: p.servingCert, p.servFile: p.servKey,
		p.saPubFile: p.saPublic, p.saKeyFile: p.saPrivate,
	} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			return nil, err
		}
	}
	return p, nil
}
