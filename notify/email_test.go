package notify

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// mailpit is a running Mailpit: its SMTP port and its API's root.
type mailpit struct {
	smtpPort int
	api      string
	roots    *x509.CertPool
}

// startMailpit runs a real Mailpit that requires STARTTLS (with a certificate made here
// for 127.0.0.1) and authentication as user/password.
func startMailpit(t *testing.T, user, password string) mailpit {
	bin := receiverBinary(t, "mailpit")
	dir := t.TempDir()
	certFile, keyFile, roots := selfSigned(t, dir)
	auth := filepath.Join(dir, "auth")
	if err := os.WriteFile(auth, []byte(user+":"+password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	smtpPort, httpPort := freePort(t), freePort(t)
	api := "http://" + addr(httpPort)
	startProcess(t, bin, api+"/readyz",
		"--smtp="+addr(smtpPort), "--listen="+addr(httpPort), "--database="+filepath.Join(dir, "mailpit.db"),
		"--smtp-tls-cert="+certFile, "--smtp-tls-key="+keyFile, "--smtp-require-starttls",
		"--smtp-auth-file="+auth, "--disable-version-check", "--smtp-disable-rdns")
	return mailpit{smtpPort: smtpPort, api: api, roots: roots}
}

// selfSigned writes a certificate for 127.0.0.1 and its key into dir.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, roots *x509.CertPool) {
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

// getJSON decodes what Mailpit's API answers at path.
func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d", url, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

type mailpitList struct {
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

func TestEmail(t *testing.T) {
	mp := startMailpit(t, "tagdrift", "pa55word")
	ctx := context.Background()
	email := func(password string, roots bool) *Email {
		e := &Email{
			Host: "127.0.0.1", Port: mp.smtpPort, Username: "tagdrift", Password: password,
			From: "tagdrift@example.com", To: []string{"platform@example.com", "security@example.com"},
			TLSConfig: &tls.Config{ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12},
		}
		if roots {
			e.TLSConfig.RootCAs = mp.roots
		}
		return e
	}
	p := NewPayload(Event{ID: "evt_6", Type: MutationOpened, At: at, Mutation: divergence(7)}, PayloadConfig{BaseURL: "https://td.example"})
	if err := Retry(ctx, RetryPolicy{Base: time.Millisecond}, sending(email("pa55word", true), p)); err != nil {
		t.Fatalf("send: %v", err)
	}

	var list mailpitList
	getJSON(t, mp.api+"/api/v1/messages", &list)
	if list.Total != 1 || len(list.Messages) != 1 {
		t.Fatalf("mailpit holds %d messages, want 1: %+v", list.Total, list)
	}
	got := list.Messages[0]
	if got.Subject != Title(p) || got.MessageID != "evt_6@tagdrift" || len(got.To) != 2 || got.To[1].Address != "security@example.com" {
		t.Errorf("message %+v", got)
	}
	var full struct {
		Text string `json:"Text"`
	}
	getJSON(t, mp.api+"/api/v1/message/"+got.ID, &full)
	for _, want := range []string{
		digestA + " on prod/shop/web-a (app)",
		digestB + " on prod/shop/web-b0 (app), prod/shop/web-b1 (app), prod/shop/web-b2 (app), prod/shop/web-b3 (app), prod/shop/web-b4 (app), and 2 more",
		"UI: https://td.example/workloads/prod/shop/Deployment/web",
	} {
		if !strings.Contains(full.Text, want) {
			t.Errorf("body lacks %q:\n%s", want, full.Text)
		}
	}
	var headers map[string][]string
	getJSON(t, mp.api+"/api/v1/message/"+got.ID+"/headers", &headers)
	if h := headers["X-Tagdrift-Event"]; len(h) != 1 || h[0] != "mutation.opened" {
		t.Errorf("X-Tagdrift-Event %q", h)
	}

	t.Run("a refused password is not retried nor quoted", func(t *testing.T) {
		err := email("wr0ngpass", true).Send(ctx, p)
		t.Logf("wrong password: %v", err)
		if err == nil || Retryable(err) || strings.Contains(err.Error(), "wr0ngpass") {
			t.Errorf("err %v", err)
		}
	})
	t.Run("an untrusted certificate fails, not retried", func(t *testing.T) {
		err := email("pa55word", false).Send(ctx, p)
		t.Logf("untrusted: %v", err)
		if err == nil || Retryable(err) {
			t.Errorf("err %v", err)
		}
	})
	t.Run("a server down is retryable", func(t *testing.T) {
		e := email("pa55word", true)
		e.Port = freePort(t)
		if err := e.Send(ctx, p); err == nil || !Retryable(err) {
			t.Errorf("err %v", err)
		}
	})
	getJSON(t, mp.api+"/api/v1/messages", &list)
	if list.Total != 1 {
		t.Errorf("mailpit holds %d messages after the failures, want still 1", list.Total)
	}
}
