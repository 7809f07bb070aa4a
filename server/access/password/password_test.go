package password

import (
	"errors"
	"strings"
	"testing"

	"golang.org/x/crypto/argon2"
)

func TestHashVerify(t *testing.T) {
	t.Parallel()
	const pw = "correct horse battery staple"
	h, err := Hash(pw)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=65536,t=3,p=4$") {
		t.Errorf("hash %q does not carry the documented parameters", h)
	}
	p, err := parse(h)
	if err != nil || len(p.salt) != saltLen || len(p.key) != keyLen {
		t.Fatalf("parse(%q) = %+v, %v", h, p, err)
	}
	for _, tt := range []struct {
		password string
		want     bool
	}{
		{pw, true},
		{pw + " ", false},
		{"Correct horse battery staple", false},
		{"", false},
		{strings.Repeat("x", MaxLen+1), false},
	} {
		ok, err := Verify(tt.password, h)
		if err != nil || ok != tt.want {
			t.Errorf("Verify(%.20q) = %v, %v; want %v", tt.password, ok, err, tt.want)
		}
	}

	again, err := Hash(pw)
	if err != nil {
		t.Fatal(err)
	}
	if again == h {
		t.Error("two hashes of one password are equal: the salt is not random")
	}
}

func BenchmarkHash(b *testing.B) {
	for b.Loop() {
		if _, err := Hash("correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}

func TestHashRefuses(t *testing.T) {
	t.Parallel()
	if _, err := Hash(""); !errors.Is(err, ErrEmpty) {
		t.Errorf("empty password: %v, want ErrEmpty", err)
	}
	if _, err := Hash(strings.Repeat("x", MaxLen+1)); !errors.Is(err, ErrTooLong) {
		t.Errorf("long password: %v, want ErrTooLong", err)
	}
	if _, err := Hash(strings.Repeat("x", MaxLen)); err != nil {
		t.Errorf("password of MaxLen bytes: %v", err)
	}
}

// TestParametersFromString checks that Verify hashes with the cost written in the string,
// not with the package's current defaults, so old hashes keep working after a change.
func TestParametersFromString(t *testing.T) {
	t.Parallel()
	salt := []byte("0123456789abcdef")
	for _, c := range []struct {
		memory, passes uint32
		lanes          uint8
		keyLen         uint32
	}{
		{8, 1, 1, 16},
		{1024, 2, 2, 32},
		{4096, 1, 3, 64},
	} {
		p := params{memory: c.memory, passes: c.passes, lanes: c.lanes, salt: salt}
		p.key = argon2.IDKey([]byte("pw"), salt, c.passes, c.memory, c.lanes, c.keyLen)
		enc := p.String()
		if ok, err := Verify("pw", enc); err != nil || !ok {
			t.Errorf("Verify(pw, %s) = %v, %v; want true", enc, ok, err)
		}
		if ok, err := Verify("pW", enc); err != nil || ok {
			t.Errorf("Verify(pW, %s) = %v, %v; want false", enc, ok, err)
		}
		// The same key under other parameters does not verify.
		q := p
		q.passes++
		if ok, err := Verify("pw", q.String()); err != nil || ok {
			t.Errorf("Verify with t changed = %v, %v; want false", ok, err)
		}
	}
}

func TestVerifyMalformed(t *testing.T) {
	t.Parallel()
	good, err := Hash("pw")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Split(good, "$")
	salt, key := f[4], f[5]
	join := func(parts ...string) string { return strings.Join(parts, "$") }
	for name, enc := range map[string]string{
		"empty":              "",
		"plain text":         "hunter2",
		"bcrypt":             "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy",
		"argon2i":            join("", "argon2i", "v=19", "m=65536,t=3,p=4", salt, key),
		"version 16":         join("", "argon2id", "v=16", "m=65536,t=3,p=4", salt, key),
		"no version":         join("", "argon2id", "m=65536,t=3,p=4", salt, key),
		"extra field":        good + "$x",
		"text before":        "x" + good,
		"parameters swapped": join("", "argon2id", "v=19", "t=3,m=65536,p=4", salt, key),
		"missing parameter":  join("", "argon2id", "v=19", "m=65536,t=3", salt, key),
		"extra parameter":    join("", "argon2id", "v=19", "m=65536,t=3,p=4,k=1", salt, key),
		"negative":           join("", "argon2id", "v=19", "m=65536,t=-3,p=4", salt, key),
		"plus sign":          join("", "argon2id", "v=19", "m=65536,t=+3,p=4", salt, key),
		"leading zero":       join("", "argon2id", "v=19", "m=065536,t=3,p=4", salt, key),
		"zero passes":        join("", "argon2id", "v=19", "m=65536,t=0,p=4", salt, key),
		"zero lanes":         join("", "argon2id", "v=19", "m=65536,t=3,p=0", salt, key),
		"256 lanes":          join("", "argon2id", "v=19", "m=65536,t=3,p=256", salt, key),
		"memory below lanes": join("", "argon2id", "v=19", "m=31,t=3,p=4", salt, key),
		"memory too large":   join("", "argon2id", "v=19", "m=4294967295,t=3,p=4", salt, key),
		"memory overflow":    join("", "argon2id", "v=19", "m=4294967296,t=3,p=4", salt, key),
		"passes too many":    join("", "argon2id", "v=19", "m=65536,t=1000,p=4", salt, key),
		"salt padded":        join("", "argon2id", "v=19", "m=65536,t=3,p=4", salt+"==", key),
		"salt url base64":    join("", "argon2id", "v=19", "m=65536,t=3,p=4", "_-_-_-_-_-_-_-_-_-_-_-", key),
		"salt short":         join("", "argon2id", "v=19", "m=65536,t=3,p=4", "YWJj", key),
		"salt empty":         join("", "argon2id", "v=19", "m=65536,t=3,p=4", "", key),
		"hash short":         join("", "argon2id", "v=19", "m=65536,t=3,p=4", salt, "YWJj"),
		"hash not base64":    join("", "argon2id", "v=19", "m=65536,t=3,p=4", salt, "!!!"),
		"line break in hash": join("", "argon2id", "v=19", "m=65536,t=3,p=4", salt, key[:20]+"\n"+key[20:]),
		"hash non-canonical": join("", "argon2id", "v=19", "m=65536,t=3,p=4", salt, key[:len(key)-1]+"B"),
	} {
		t.Run(name, func(t *testing.T) {
			ok, err := Verify("pw", enc)
			if ok || !errors.Is(err, ErrMalformed) {
				t.Errorf("Verify(pw, %q) = %v, %v; want ErrMalformed", enc, ok, err)
			}
		})
	}
}

// FuzzVerify feeds arbitrary strings as stored hashes: Verify must never panic, and what
// it accepts must be a hash it would write itself.
func FuzzVerify(f *testing.F) {
	good, err := Hash("pw")
	if err != nil {
		f.Fatal(err)
	}
	cheap := params{memory: 8, passes: 1, lanes: 1, salt: []byte("saltsalt")}
	cheap.key = argon2.IDKey([]byte("pw"), cheap.salt, 1, 8, 1, 16)
	for _, s := range []string{good, cheap.String(), "", "$", "$argon2id$v=19$m=8,t=1,p=1$$", "$argon2id$v=19$m=,t=,p=$x$y"} {
		f.Add("pw", s)
	}
	f.Fuzz(func(t *testing.T, pw, enc string) {
		p, err := parse(enc)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("parse(%q): %v does not wrap ErrMalformed", enc, err)
			}
			return
		}
		if p.String() != enc {
			t.Fatalf("parse(%q) accepted a string it would write as %q", enc, p.String())
		}
		// Hashing at a cost the fuzzer picked could take seconds; verify only cheap ones.
		if uint64(p.memory)*uint64(p.passes) > 64*1024 {
			return
		}
		if _, err := Verify(pw, enc); err != nil {
			t.Fatalf("Verify(%q) after a successful parse: %v", enc, err)
		}
	})
}
