package access

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestDeviceCookieOutlivesTheProcess: a device cookie set by one process is known to
// another given the same keys (a restart, another replica), still after the ring
// rotates (the old key checks, the new one signs), and not to a process with other
// keys or only a random one of its own.
func TestDeviceCookieOutlivesTheProcess(t *testing.T) {
	oldKey, newKey := []byte("0123456789abcdef0123456789abcdef"), []byte("fedcba9876543210fedcba9876543210")
	cookieOf := func(s *Sessions, name string) *http.Cookie {
		rec := httptest.NewRecorder()
		s.SetDeviceCookie(rec, name)
		cs := rec.Result().Cookies()
		if len(cs) != 1 || cs[0].Name != deviceCookie {
			t.Fatalf("cookies set: %v", cs)
		}
		return cs[0]
	}
	known := func(s *Sessions, c *http.Cookie, name string) bool {
		r := httptest.NewRequest(http.MethodPost, "/signin", nil)
		r.AddCookie(c)
		return s.KnownDevice(r, name)
	}
	first := newSessions(0, 0, Cookies{}, [][]byte{oldKey})
	c := cookieOf(first, "alice")

	restarted := newSessions(0, 0, Cookies{}, [][]byte{oldKey})
	if !known(restarted, c, "alice") {
		t.Error("a restart with the same key ring forgets the browser")
	}
	if known(restarted, c, "bob") {
		t.Error("alice's device cookie is known for bob")
	}
	rotated := newSessions(0, 0, Cookies{}, [][]byte{newKey, oldKey})
	if !known(rotated, c, "alice") {
		t.Error("after a rotation the old key's cookie is refused")
	}
	if c2 := cookieOf(rotated, "alice"); c2.Value == c.Value || !known(newSessions(0, 0, Cookies{}, [][]byte{newKey}), c2, "alice") {
		t.Error("the rotated ring does not sign with the new key")
	}
	if known(newSessions(0, 0, Cookies{}, [][]byte{newKey}), c, "alice") {
		t.Error("a ring without the old key knows its cookie")
	}
	if known(newSessions(0, 0, Cookies{}, nil), c, "alice") {
		t.Error("a process with a random key knows another's cookie")
	}
}
