package access

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strings"
	"time"
)

// deviceCookie marks a browser that signed in to an account before (OWASP's device
// cookie): it names the account and is signed, so that only this service could have
// set it. Such a browser is exempt from the per-name ceiling on failed sign-ins, so that
// an attacker who fails on a name from many addresses does not keep its user out.
const deviceCookie = "tagdrift_device"

// deviceLifetime is how long a device cookie is honoured by the browser.
const deviceLifetime = 90 * 24 * time.Hour

func randomKey() []byte {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("access: no randomness: " + err.Error()) // crypto/rand never fails on supported systems
	}
	return b
}

// AccountKey is the key of the strict failed sign-in limit: the typed name and the
// client's address together.
func AccountKey(name, client string) string { return name + "\x00" + AddressKey(client) }

// DevicePurpose is what the device cookie's keys are derived for (keyring.Ring.Derive).
const DevicePurpose = "tagdrift device cookie"

func deviceMAC(key []byte, name string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("tagdrift device\x00" + name))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// SetDeviceCookie marks the browser as one that signed in to name; Secure as the
// session cookie is, decided at start (DecideCookies).
func (s *Sessions) SetDeviceCookie(w http.ResponseWriter, name string) {
	http.SetCookie(w, &http.Cookie{
		Name: deviceCookie, Value: base64.RawURLEncoding.EncodeToString([]byte(name)) + "." + deviceMAC(s.deviceKeys[0], name),
		Path: "/signin", MaxAge: int(deviceLifetime / time.Second),
		Secure: !s.Cookies.Plain, HttpOnly: true, SameSite: http.SameSiteLaxMode,
	})
}

// KnownDevice reports whether r carries a valid device cookie for name.
func (s *Sessions) KnownDevice(r *http.Request, name string) bool {
	c, err := r.Cookie(deviceCookie)
	if err != nil {
		return false
	}
	enc, mac, ok := strings.Cut(c.Value, ".")
	if !ok {
		return false
	}
	got, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil || string(got) != name {
		return false
	}
	for _, k := range s.deviceKeys {
		if hmac.Equal([]byte(mac), []byte(deviceMAC(k, name))) {
			return true
		}
	}
	return false
}
