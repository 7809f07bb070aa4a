package receivers

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Mailpit is a running Mailpit: its SMTP port, its API's root, and (with TLS) the
// roots that trust its certificate.
type Mailpit struct {
	SMTPPort int
	API      string
	Roots    *x509.CertPool
}

// MailpitOptions says how Mailpit takes mail.
type MailpitOptions struct {
	// TLS requires STARTTLS, with a certificate made here for 127.0.0.1.
	TLS bool
	// User and Password, when set, are required (SMTP AUTH).
	User, Password string
}

// StartMailpit runs a real Mailpit until the test ends.
func StartMailpit(t testing.TB, o MailpitOptions) Mailpit {
	t.Helper()
	bin := Binary(t, "mailpit")
	dir := t.TempDir()
	smtpPort, httpPort := FreePort(t), FreePort(t)
	mp := Mailpit{SMTPPort: smtpPort, API: "http://" + Addr(httpPort)}
	args := []string{"--smtp=" + Addr(smtpPort), "--listen=" + Addr(httpPort), "--database=" + filepath.Join(dir, "mailpit.db"),
		"--disable-version-check", "--smtp-disable-rdns"}
	if o.TLS {
		var certFile, keyFile string
		certFile, keyFile, mp.Roots = selfSigned(t, dir)
		args = append(args, "--smtp-tls-cert="+certFile, "--smtp-tls-key="+keyFile, "--smtp-require-starttls")
	}
	if o.User != "" {
		auth := filepath.Join(dir, "auth")
		if err := os.WriteFile(auth, []byte(o.User+":"+o.Password+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--smtp-auth-file="+auth)
	}
	StartProcess(t, bin, mp.API+"/readyz", args...)
	return mp
}

// MailpitList is the part of GET /api/v1/messages the tests read.
type MailpitList struct {
	Total    int `json:"total"`
	Messages []struct {
		ID        string `json:"ID"`
		MessageID string `json:"MessageID"`
		Subject   string `json:"Subject"`
		To        []struct {
			Address string `json:"Address"`
		} `json:"To"`
	} `json:"messages"`
}

// Messages lists what arrived, newest first.
func (m Mailpit) Messages(t testing.TB) MailpitList {
	t.Helper()
	var list MailpitList
	GetJSON(t, m.API+"/api/v1/messages", &list)
	return list
}

// Text returns the plain text body of message id (an ID of Messages).
func (m Mailpit) Text(t testing.TB, id string) string {
	t.Helper()
	var full struct {
		Text string `json:"Text"`
	}
	GetJSON(t, m.API+"/api/v1/message/"+id, &full)
	return full.Text
}

// Headers returns the headers of message id.
func (m Mailpit) Headers(t testing.TB, id string) map[string][]string {
	t.Helper()
	var headers map[string][]string
	GetJSON(t, m.API+"/api/v1/message/"+id+"/headers", &headers)
	return headers
}

// selfSigned writes a certificate for 127.0.0.1 and its key into dir.
func selfSigned(t testing.TB, dir string) (certFile, keyFile string, roots *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mailpit"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	roots = x509.NewCertPool()
	roots.AddCert(cert)
	return certFile, keyFile, roots
}
