package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"

	"github.com/tagdrift/tagdrift/store"
	"github.com/tagdrift/tagdrift/store/keyring"
)

// runMigrate is `tagdrift migrate up|down N|version`.
func runMigrate(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("tagdrift migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("database-url", getenv("TAGDRIFT_DATABASE_URL"), "PostgreSQL URL (TAGDRIFT_DATABASE_URL)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: tagdrift migrate [--database-url URL] up | down N | version")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return &exitError{code: 2}
	}
	if *url == "" {
		return &exitError{code: 2, err: errors.New("no database: set --database-url or TAGDRIFT_DATABASE_URL")}
	}
	rest := fs.Args()
	if len(rest) == 0 {
		fs.Usage()
		return &exitError{code: 2}
	}
	m, err := store.NewMigrator(*url)
	if err != nil {
		return err
	}
	defer m.Close()
	switch {
	case rest[0] == "up" && len(rest) == 1:
		err = m.Up()
	case rest[0] == "down" && len(rest) == 2:
		n, convErr := strconv.Atoi(rest[1])
		if convErr != nil || n <= 0 {
			return &exitError{code: 2, err: fmt.Errorf("migrate down takes a positive number of steps, not %q", rest[1])}
		}
		err = m.Down(n)
	case rest[0] == "version" && len(rest) == 1:
	default:
		fs.Usage()
		return &exitError{code: 2, err: fmt.Errorf("unknown migrate arguments %q", rest)}
	}
	if err != nil {
		return err
	}
	v, dirty, err := m.Version()
	if err != nil {
		return err
	}
	latest, err := store.Latest()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "schema version %d of %d", v, latest)
	if dirty {
		fmt.Fprint(stdout, " (dirty)")
	}
	fmt.Fprintln(stdout)
	return nil
}

// runKeys is `tagdrift keys generate|rotate`.
func runKeys(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "generate" && args[0] != "rotate") {
		fmt.Fprintln(stderr, "Usage: tagdrift keys generate | rotate [--database-url URL] [--encryption-key-file FILE]")
		return &exitError{code: 2}
	}
	if args[0] == "generate" {
		b := make([]byte, keyring.KeySize)
		if _, err := rand.Read(b); err != nil {
			return err
		}
		_, err := fmt.Fprintln(stdout, base64.StdEncoding.EncodeToString(b))
		return err
	}
	fs := flag.NewFlagSet("tagdrift keys rotate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("database-url", getenv("TAGDRIFT_DATABASE_URL"), "PostgreSQL URL (TAGDRIFT_DATABASE_URL)")
	keyFile := fs.String("encryption-key-file", getenv("TAGDRIFT_ENCRYPTION_KEY_FILE"), "key file, newest key last (TAGDRIFT_ENCRYPTION_KEY_FILE, or TAGDRIFT_ENCRYPTION_KEY)")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return &exitError{code: 2}
	}
	cfg := serveConfig{databaseURL: *url, keyFile: *keyFile, keyText: getenv("TAGDRIFT_ENCRYPTION_KEY")}
	if cfg.databaseURL == "" {
		return &exitError{code: 2, err: errors.New("no database: set --database-url or TAGDRIFT_DATABASE_URL")}
	}
	ring, err := cfg.ring()
	if err != nil {
		return err
	}
	st, err := store.Open(ctx, cfg.databaseURL, ring)
	if err != nil {
		return err
	}
	defer st.Close()
	n, err := st.RotateKeys(ctx, 100)
	fmt.Fprintf(stdout, "re-sealed %d cluster credentials under key %08x\n", n, ring.Primary())
	return err
}
