// Package keyring encrypts secrets at rest (cluster credentials) with AES-256-GCM under
// a ring of keys: the newest key seals, every key in the ring opens, and each sealed
// value names the key that sealed it, so that keys rotate without downtime.
package keyring

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// KeySize is the size of a key: AES-256.
const KeySize = 32

// version leads every sealed value, so that the format can change.
const version = 1

// header is version (1 byte) and key id (4 bytes); the nonce and the GCM output follow.
const header = 1 + 4

var (
	// ErrUnknownKey means the value was sealed under a key the ring does not hold.
	ErrUnknownKey = errors.New("sealed under a key that is not in the key ring")
	// ErrDecrypt means the value was altered, belongs to another row, or the key is wrong.
	ErrDecrypt = errors.New("cannot decrypt: altered, moved from another record, or wrong key")
)

// Ring is a set of keys, the last one the newest.
type Ring struct {
	keys []key
}

type key struct {
	id   uint32
	aead cipher.AEAD
	// prk is HKDF's pseudorandom key from the key, from which Derive expands keys
	// for other uses, so that the sealing key itself never signs anything else.
	prk []byte
}

// HowToMakeAKey tells an operator how to make a key, for error messages.
const HowToMakeAKey = "make one with: head -c 32 /dev/urandom | base64"

// Parse reads keys as base64 (standard encoding, 32 bytes each), separated by newlines
// or commas; blank lines and lines starting with # are skipped. The last key is the
// newest: it seals, and the others only open.
func Parse(text string) (*Ring, error) {
	var r Ring
	fields := strings.FieldsFunc(text, func(c rune) bool { return c == '\n' || c == ',' || c == '\r' })
	n := 0
	for _, f := range fields {
		f = strings.TrimSpace(f)
		if f == "" || strings.HasPrefix(f, "#") {
			continue
		}
		n++
		raw, err := base64.StdEncoding.DecodeString(f)
		if err != nil {
			return nil, fmt.Errorf("key %d: not base64 (%s)", n, HowToMakeAKey)
		}
		if len(raw) != KeySize {
			return nil, fmt.Errorf("key %d: %d bytes, want %d (%s)", n, len(raw), KeySize, HowToMakeAKey)
		}
		k, err := newKey(raw)
		if err != nil {
			return nil, fmt.Errorf("key %d: %w", n, err)
		}
		for _, old := range r.keys {
			if old.id == k.id {
				return nil, fmt.Errorf("key %d: the same key twice, or two keys with one id", n)
			}
		}
		r.keys = append(r.keys, k)
	}
	if len(r.keys) == 0 {
		return nil, fmt.Errorf("no encryption key (%s)", HowToMakeAKey)
	}
	return &r, nil
}

func newKey(raw []byte) (key, error) {
	block, err := aes.NewCipher(raw)
	if err != nil {
		return key{}, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return key{}, err
	}
	prk, err := hkdf.Extract(sha256.New, raw, []byte("tagdrift keyring"))
	if err != nil {
		return key{}, err
	}
	sum := sha256.Sum256(raw)
	return key{id: binary.BigEndian.Uint32(sum[:4]), aead: aead, prk: prk}, nil
}

// Derive returns a 32-byte key for purpose from each key of the ring, the newest
// first: sign with the first, accept what any of them signed, so that a key rotation
// leaves what the older key signed valid until that key leaves the ring. Every replica
// given the same ring derives the same keys, and so does a restart.
func (r *Ring) Derive(purpose string) [][]byte {
	out := make([][]byte, 0, len(r.keys))
	for i := len(r.keys) - 1; i >= 0; i-- {
		k, err := hkdf.Expand(sha256.New, r.keys[i].prk, purpose, KeySize)
		if err != nil {
			panic("keyring: HKDF cannot expand 32 bytes: " + err.Error()) // only past 255 blocks
		}
		out = append(out, k)
	}
	return out
}

// Primary is the id of the newest key, the one that seals.
func (r *Ring) Primary() uint32 { return r.keys[len(r.keys)-1].id }

// Seal encrypts plaintext under the newest key. aad binds the value to its record (a
// cluster's id, say): it opens only with the same aad.
func (r *Ring) Seal(plaintext, aad []byte) ([]byte, error) {
	k := r.keys[len(r.keys)-1]
	out := make([]byte, header, header+k.aead.NonceSize()+len(plaintext)+k.aead.Overhead())
	out[0] = version
	binary.BigEndian.PutUint32(out[1:header], k.id)
	nonce := make([]byte, k.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("nonce: %w", err)
	}
	out = append(out, nonce...)
	return k.aead.Seal(out, nonce, plaintext, withHeader(out[:header], aad)), nil
}

// Open decrypts a value Seal made, with the aad it was sealed with.
func (r *Ring) Open(sealed, aad []byte) ([]byte, error) {
	id, err := KeyID(sealed)
	if err != nil {
		return nil, err
	}
	for _, k := range r.keys {
		if k.id != id {
			continue
		}
		ns := k.aead.NonceSize()
		if len(sealed) < header+ns+k.aead.Overhead() {
			return nil, ErrDecrypt
		}
		nonce := sealed[header : header+ns]
		plain, err := k.aead.Open(nil, nonce, sealed[header+ns:], withHeader(sealed[:header], aad))
		if err != nil {
			return nil, ErrDecrypt
		}
		return plain, nil
	}
	return nil, fmt.Errorf("key %08x: %w", id, ErrUnknownKey)
}

// KeyID returns the id of the key a value was sealed under.
func KeyID(sealed []byte) (uint32, error) {
	if len(sealed) < header || sealed[0] != version {
		return 0, ErrDecrypt
	}
	return binary.BigEndian.Uint32(sealed[1:header]), nil
}

// withHeader authenticates the version and key id along with the caller's aad.
func withHeader(h, aad []byte) []byte {
	return bytes.Join([][]byte{h, aad}, nil)
}
