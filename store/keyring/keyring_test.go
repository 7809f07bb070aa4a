package keyring

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

func newKeyText(t *testing.T) string {
	t.Helper()
	b := make([]byte, KeySize)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b)
}

func TestSealOpen(t *testing.T) {
	r, err := Parse(newKeyText(t))
	if err != nil {
		t.Fatal(err)
	}
	secret := []byte("token: s3cret-bearer-token")
	sealed, err := r.Seal(secret, []byte("cluster-1"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("s3cret")) {
		t.Fatal("the plaintext shows in the sealed value")
	}
	again, _ := r.Seal(secret, []byte("cluster-1"))
	if bytes.Equal(sealed, again) {
		t.Error("two seals of one value are equal: the nonce is not random")
	}
	got, err := r.Open(sealed, []byte("cluster-1"))
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("Open = %q, %v", got, err)
	}
}

func TestOpenRefusesTampering(t *testing.T) {
	r, err := Parse(newKeyText(t))
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := r.Seal([]byte("secret"), []byte("cluster-1"))
	if err != nil {
		t.Fatal(err)
	}
	// Every single flipped bit, header included, is refused.
	for i := range len(sealed) * 8 {
		bad := bytes.Clone(sealed)
		bad[i/8] ^= 1 << (i % 8)
		if _, err := r.Open(bad, []byte("cluster-1")); err == nil {
			t.Fatalf("bit %d flipped: opened", i)
		}
	}
	// A value moved to another record (other aad) is refused.
	if _, err := r.Open(sealed, []byte("cluster-2")); !errors.Is(err, ErrDecrypt) {
		t.Errorf("other record: %v, want ErrDecrypt", err)
	}
	if _, err := r.Open(sealed[:10], []byte("cluster-1")); !errors.Is(err, ErrDecrypt) {
		t.Errorf("truncated: %v", err)
	}
	other, _ := Parse(newKeyText(t))
	if _, err := other.Open(sealed, []byte("cluster-1")); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("another ring: %v, want ErrUnknownKey", err)
	}
}

func TestRotation(t *testing.T) {
	oldKey, newKey := newKeyText(t), newKeyText(t)
	oldRing, _ := Parse(oldKey)
	sealedOld, _ := oldRing.Seal([]byte("a"), []byte("1"))

	ring, err := Parse("# old\n" + oldKey + "\n\n" + newKey + "\n")
	if err != nil {
		t.Fatal(err)
	}
	if id, _ := KeyID(sealedOld); id == ring.Primary() {
		t.Fatal("old value already under the newest key")
	}
	if got, err := ring.Open(sealedOld, []byte("1")); err != nil || string(got) != "a" {
		t.Fatalf("old value with the ring: %q %v", got, err)
	}
	sealedNew, _ := ring.Seal([]byte("a"), []byte("1"))
	if id, _ := KeyID(sealedNew); id != ring.Primary() {
		t.Error("seal does not use the newest key")
	}
	newOnly, _ := Parse(newKey)
	if _, err := newOnly.Open(sealedNew, []byte("1")); err != nil {
		t.Errorf("re-sealed value without the old key: %v", err)
	}
	// Commas work as separators too, as in an environment variable.
	if r, err := Parse(oldKey + "," + newKey); err != nil || r.Primary() != ring.Primary() {
		t.Errorf("comma-separated: %v", err)
	}
}

func TestParseErrors(t *testing.T) {
	k := newKeyText(t)
	for _, tt := range []struct{ text, want string }{
		{"", "no encryption key"},
		{"# only a comment\n", "no encryption key"},
		{"not-base64!", "not base64"},
		{base64.StdEncoding.EncodeToString([]byte("short")), "5 bytes, want 32"},
		{k + "\n" + k, "the same key twice"},
	} {
		_, err := Parse(tt.text)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Parse(%q) = %v, want %q", tt.text, err, tt.want)
		}
		if err != nil && !strings.Contains(err.Error(), "head -c 32 /dev/urandom | base64") && tt.want != "the same key twice" {
			t.Errorf("error %q does not say how to make a key", err)
		}
	}
}

// TestDerive: the keys derived for a purpose are the same from every parse of the same
// ring (a restart, another replica), differ by purpose and from the sealing key, and
// a rotated ring derives the new key's first and keeps the old key's.
func TestDerive(t *testing.T) {
	old, next := newKeyText(t), newKeyText(t)
	a, b := parse(t, old), parse(t, old)
	da, db := a.Derive("device"), b.Derive("device")
	if len(da) != 1 || len(da[0]) != KeySize || !bytes.Equal(da[0], db[0]) {
		t.Fatalf("the same ring derives %x and %x", da, db)
	}
	if other := a.Derive("other"); bytes.Equal(other[0], da[0]) {
		t.Error("two purposes derive the same key")
	}
	raw, _ := base64.StdEncoding.DecodeString(old)
	if bytes.Equal(raw, da[0]) {
		t.Error("the derived key is the sealing key")
	}
	rotated := parse(t, old+"\n"+next).Derive("device")
	fresh := parse(t, next).Derive("device")
	if len(rotated) != 2 || !bytes.Equal(rotated[0], fresh[0]) || !bytes.Equal(rotated[1], da[0]) {
		t.Errorf("rotated ring derives %x, want the new key's %x then the old key's %x", rotated, fresh[0], da[0])
	}
}

func parse(t *testing.T, text string) *Ring {
	t.Helper()
	r, err := Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
