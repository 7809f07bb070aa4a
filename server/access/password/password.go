// Package password hashes the passwords of web UI users with argon2id and checks them
// against the stored hashes.
//
// A hash is a PHC string, $argon2id$v=19$m=65536,t=3,p=4$<salt>$<hash>, with salt and
// hash in unpadded standard base64. Verify reads the cost from the string, so the
// parameters can be raised later without invalidating the hashes already stored.
package password

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// The parameters are RFC 9106's second recommended option (section 4), for systems that
// cannot spend the 2 GiB of the first: argon2id, t=3 passes, m=64 MiB, p=4 lanes, a
// 128-bit salt and a 256-bit tag. On a 2-core machine a hash takes about 150 ms, which
// is what a login can afford and what makes a stolen table slow to attack.
const (
	memoryKiB = 64 * 1024
	passes    = 3
	lanes     = 4
	saltLen   = 16
	keyLen    = 32
)

// MaxLen is the longest password accepted, in bytes: argon2 takes any length, but an
// unbounded one would let a login request cost unbounded work.
const MaxLen = 1024

// Bounds on what Verify accepts from a stored string, so that a corrupt or hostile one
// cannot make a check take gigabytes or minutes.
const (
	maxMemoryKiB = 1024 * 1024 // 1 GiB
	maxPasses    = 64
	minSaltLen   = 8
	maxSaltLen   = 64
	minKeyLen    = 16
	maxKeyLen    = 64
)

var (
	// ErrEmpty means the password is empty.
	ErrEmpty = errors.New("password is empty")
	// ErrTooLong means the password is longer than MaxLen bytes.
	ErrTooLong = fmt.Errorf("password is longer than %d bytes", MaxLen)
	// ErrMalformed means a stored hash is not an argon2id PHC string this package reads.
	ErrMalformed = errors.New("malformed password hash")
)

func check(password string) error {
	switch {
	case password == "":
		return ErrEmpty
	case len(password) > MaxLen:
		return ErrTooLong
	}
	return nil
}

// Hash hashes a password with a fresh random salt and returns the PHC string to store.
func Hash(password string) (string, error) {
	if err := check(password); err != nil {
		return "", err
	}
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("password salt: %w", err)
	}
	p := params{memory: memoryKiB, passes: passes, lanes: lanes, salt: salt}
	p.key = argon2.IDKey([]byte(password), salt, p.passes, p.memory, p.lanes, keyLen)
	return p.String(), nil
}

// Verify reports whether password is the one encoded was made from, comparing in
// constant time. It returns an error, wrapping ErrMalformed, only when encoded cannot
// be read; an empty or overlong password is simply not a match.
func Verify(password, encoded string) (bool, error) {
	p, err := parse(encoded)
	if err != nil {
		return false, err
	}
	if check(password) != nil {
		return false, nil
	}
	key := argon2.IDKey([]byte(password), p.salt, p.passes, p.memory, p.lanes, uint32(len(p.key)))
	return subtle.ConstantTimeCompare(key, p.key) == 1, nil
}

// params is a decoded hash.
type params struct {
	memory    uint32 // KiB
	passes    uint32
	lanes     uint8
	salt, key []byte
}

func (p params) String() string {
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.memory, p.passes, p.lanes, b64.EncodeToString(p.salt), b64.EncodeToString(p.key))
}

// parse reads a PHC string strictly: the fields in order, decimal numbers without
// signs or leading zeros, canonical base64, and costs within bounds.
func parse(encoded string) (params, error) {
	var p params
	// encoding/base64 skips newlines even in strict mode; a stored hash has none.
	if strings.ContainsAny(encoded, "\r\n") {
		return p, fmt.Errorf("%w: contains a line break", ErrMalformed)
	}
	f := strings.Split(encoded, "$")
	if len(f) != 6 || f[0] != "" {
		return p, fmt.Errorf("%w: want 5 fields separated by $", ErrMalformed)
	}
	if f[1] != "argon2id" {
		return p, fmt.Errorf("%w: algorithm %q, want argon2id", ErrMalformed, f[1])
	}
	if v, ok := strings.CutPrefix(f[2], "v="); !ok || v != strconv.Itoa(argon2.Version) {
		return p, fmt.Errorf("%w: version %q, want v=%d", ErrMalformed, f[2], argon2.Version)
	}
	kv := strings.Split(f[3], ",")
	if len(kv) != 3 {
		return p, fmt.Errorf("%w: parameters %q, want m=,t=,p=", ErrMalformed, f[3])
	}
	m, err := number(kv[0], "m", 1, maxMemoryKiB)
	if err != nil {
		return p, err
	}
	t, err := number(kv[1], "t", 1, maxPasses)
	if err != nil {
		return p, err
	}
	l, err := number(kv[2], "p", 1, 255)
	if err != nil {
		return p, err
	}
	// argon2 needs at least 8 KiB per lane.
	if m < 8*l {
		return p, fmt.Errorf("%w: m=%d is below 8 KiB per lane", ErrMalformed, m)
	}
	p.memory, p.passes, p.lanes = uint32(m), uint32(t), uint8(l)
	b64 := base64.RawStdEncoding.Strict()
	if p.salt, err = b64.DecodeString(f[4]); err != nil || len(p.salt) < minSaltLen || len(p.salt) > maxSaltLen {
		return p, fmt.Errorf("%w: salt must be %d to %d bytes of unpadded base64", ErrMalformed, minSaltLen, maxSaltLen)
	}
	if p.key, err = b64.DecodeString(f[5]); err != nil || len(p.key) < minKeyLen || len(p.key) > maxKeyLen {
		return p, fmt.Errorf("%w: hash must be %d to %d bytes of unpadded base64", ErrMalformed, minKeyLen, maxKeyLen)
	}
	return p, nil
}

// number reads name=N with lo <= N <= hi.
func number(s, name string, lo, hi uint64) (uint64, error) {
	v, ok := strings.CutPrefix(s, name+"=")
	if !ok {
		return 0, fmt.Errorf("%w: parameter %q, want %s=", ErrMalformed, s, name)
	}
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil || strconv.FormatUint(n, 10) != v || n < lo || n > hi {
		return 0, fmt.Errorf("%w: %s=%q, want a number from %d to %d", ErrMalformed, name, v, lo, hi)
	}
	return n, nil
}
