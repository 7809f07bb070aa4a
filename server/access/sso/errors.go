package sso

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
)

// Kind is what went wrong in a sign-in through the provider; each has its own page.
type Kind int

// Kinds of Error.
const (
	// Denied: the user declined at the provider (error=access_denied).
	Denied Kind = iota + 1
	// ProviderRefused: the provider answered another error, or no code.
	ProviderRefused
	// State: the answer does not belong to a sign-in this browser started (no,
	// expired or foreign flow cookie; wrong state).
	State
	// CodeRefused: the token endpoint refused the code (expired, used, or issued to
	// another client).
	CodeRefused
	// BadToken: the ID token failed verification (issuer, audience, expiry,
	// signature, nonce) or its claims are malformed.
	BadToken
	// GroupsOverflow: the token carries no groups claim but says they are elsewhere
	// (Entra ID's group overage).
	GroupsOverflow
	// Unreachable: discovery or the token endpoint could not be reached.
	Unreachable
)

func (k Kind) String() string {
	switch k {
	case Denied:
		return "denied"
	case ProviderRefused:
		return "provider_error"
	case State:
		return "state"
	case CodeRefused:
		return "code_refused"
	case BadToken:
		return "bad_token"
	case GroupsOverflow:
		return "groups_overflow"
	case Unreachable:
		return "unreachable"
	}
	return "unknown"
}

// Error is a failed sign-in: its kind, for the page, and the cause, for the log only.
type Error struct {
	Kind Kind
	Err  error
}

func (e *Error) Error() string { return fmt.Sprintf("sign in through provider: %s: %v", e.Kind, e.Err) }

func (e *Error) Unwrap() error { return e.Err }

// KindOf is err's Kind; 0 when it is no *Error.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return 0
}

// sealer seals the flow cookie with AES-256-GCM under keys derived from the ring's (the
// first seals, any opens), so that a cookie can be neither read nor made elsewhere.
type sealer struct{ aeads []cipher.AEAD }

func newSealer(keys [][]byte) (*sealer, error) {
	s := &sealer{}
	for _, k := range keys {
		// The ring's keys derived for FlowPurpose: 32 bytes, AES-256.
		b, err := aes.NewCipher(k)
		if err != nil {
			return nil, err
		}
		a, err := cipher.NewGCM(b)
		if err != nil {
			return nil, err
		}
		s.aeads = append(s.aeads, a)
	}
	if len(s.aeads) == 0 {
		return nil, errors.New("no key for the flow cookie")
	}
	return s, nil
}

func (s *sealer) seal(plain, aad []byte) ([]byte, error) {
	a := s.aeads[0]
	nonce := make([]byte, a.NonceSize(), a.NonceSize()+len(plain)+a.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return a.Seal(nonce, nonce, plain, aad), nil
}

func (s *sealer) open(sealed, aad []byte) ([]byte, error) {
	for _, a := range s.aeads {
		if len(sealed) < a.NonceSize() {
			break
		}
		if b, err := a.Open(nil, sealed[:a.NonceSize()], sealed[a.NonceSize():], aad); err == nil {
			return b, nil
		}
	}
	return nil, errors.New("does not open")
}
