package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/user"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/term"

	"github.com/tagdrift/tagdrift/server/password"
	"github.com/tagdrift/tagdrift/store"
)

const tokenUsage = `Usage:
  tagdrift token create --name NAME --role admin|viewer [--expires 720h] [--database-url URL]
  tagdrift token list [--database-url URL]
  tagdrift token revoke ID [--database-url URL]

create prints the new token's secret on stdout, the only time it is shown.
`

const userUsage = `Usage:
  tagdrift user add NAME --role admin|viewer [--database-url URL]

The password is asked twice on a terminal; otherwise the first line of stdin is read.
`

// accountFlags starts the flags of a token or user command: each talks to the database
// directly, to make the first token before the API can be used.
func accountFlags(name, usage string, getenv func(string) string, stderr io.Writer) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fmt.Fprintln(stderr, "\nFlags:")
		fs.PrintDefaults()
	}
	url := fs.String("database-url", getenv("TAGDRIFT_DATABASE_URL"), "PostgreSQL URL (TAGDRIFT_DATABASE_URL)")
	return fs, url
}

// parseAnywhere parses flags given before or after the arguments, as in `user add NAME
// --role admin`, and returns the arguments. --help is a nil *exitError: nothing to do.
func parseAnywhere(fs *flag.FlagSet, args []string) ([]string, error) {
	var rest []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, errHelp
			}
			return nil, &exitError{code: 2} // flag has printed the error and the usage
		}
		if fs.NArg() == 0 {
			return rest, nil
		}
		rest = append(rest, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// errHelp ends a command that printed its help: exit status 0.
var errHelp = errors.New("help")

// usageError is a mistake in the command line: exit status 2.
func usageError(format string, a ...any) error {
	return &exitError{code: 2, err: fmt.Errorf(format, a...)}
}

func checkRole(role string) error {
	switch role {
	case store.RoleAdmin, store.RoleViewer:
		return nil
	case "":
		return usageError("--role is required: admin or viewer")
	}
	return usageError("--role must be admin or viewer, not %q", role)
}

// openAccounts opens the database for the token and user commands. Tokens and users
// hold no sealed credentials, so no encryption key is read: the store gets a nil key
// ring, which only the cluster credential methods would use.
func openAccounts(ctx context.Context, url string) (*store.Store, error) {
	if url == "" {
		return nil, usageError("no database: set --database-url or TAGDRIFT_DATABASE_URL")
	}
	return store.Open(ctx, url, nil)
}

// cliAudit names who runs the command in the audit trail: "cli:" and the OS user.
func cliAudit(getenv func(string) string) store.Audit {
	var name string
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	return store.Audit{Actor: "cli:" + cmp.Or(name, getenv("USER"), "unknown")}
}

// runToken is `tagdrift token create|list|revoke`.
func runToken(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, tokenUsage)
		return &exitError{code: 2}
	}
	fs, url := accountFlags("tagdrift token "+args[0], tokenUsage, getenv, stderr)
	var err error
	switch args[0] {
	case "create":
		name := fs.String("name", "", "what the token is for, shown in lists and the audit trail (required)")
		role := fs.String("role", "", "admin or viewer (required)")
		expires := fs.Duration("expires", 0, "lifetime, such as 720h; 0 never expires")
		err = withArgs(fs, args[1:], 0, func([]string) error {
			return tokenCreate(ctx, *url, *name, *role, *expires, getenv, stdout, stderr)
		})
	case "list":
		err = withArgs(fs, args[1:], 0, func([]string) error { return tokenList(ctx, *url, stdout) })
	case "revoke":
		err = withArgs(fs, args[1:], 1, func(rest []string) error {
			id, convErr := strconv.ParseInt(rest[0], 10, 64)
			if convErr != nil || id <= 0 {
				return usageError("token revoke takes a token id, not %q", rest[0])
			}
			return tokenRevoke(ctx, *url, id, getenv, stderr)
		})
	case "-h", "--help", "help":
		_, err = fmt.Fprint(stdout, tokenUsage)
	default:
		fmt.Fprint(stderr, tokenUsage)
		err = usageError("unknown token command %q", args[0])
	}
	return err
}

// withArgs parses the flags, checks that n arguments remain and runs fn with them.
func withArgs(fs *flag.FlagSet, args []string, n int, fn func([]string) error) error {
	rest, err := parseAnywhere(fs, args)
	if errors.Is(err, errHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	if len(rest) != n {
		fs.Usage()
		return usageError("%s takes %d argument(s), got %q", fs.Name(), n, rest)
	}
	return fn(rest)
}

func tokenCreate(ctx context.Context, url, name, role string, expires time.Duration, getenv func(string) string, stdout, stderr io.Writer) error {
	if strings.TrimSpace(name) == "" {
		return usageError("--name is required")
	}
	if err := checkRole(role); err != nil {
		return err
	}
	if expires < 0 {
		return usageError("--expires must be positive, or 0 for never, not %s", expires)
	}
	nt := store.NewToken{Name: name, Role: role}
	if expires > 0 {
		at := time.Now().Add(expires)
		nt.ExpiresAt = &at
	}
	st, err := openAccounts(ctx, url)
	if err != nil {
		return err
	}
	defer st.Close()
	t, secret, err := st.CreateToken(ctx, nt, cliAudit(getenv))
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintln(stdout, secret); err != nil {
		return err
	}
	expiry := "never expires"
	if t.ExpiresAt != nil {
		expiry = "expires " + t.ExpiresAt.UTC().Format(time.RFC3339)
	}
	fmt.Fprintf(stderr, "tagdrift: token %d %q (%s, %s) created; its secret is shown once, above: keep it now\n",
		t.ID, t.Name, t.Role, expiry)
	return nil
}

func tokenList(ctx context.Context, url string, stdout io.Writer) error {
	st, err := openAccounts(ctx, url)
	if err != nil {
		return err
	}
	defer st.Close()
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tROLE\tCREATED BY\tCREATED\tLAST USED\tEXPIRES\tREVOKED")
	const page = 500
	for before := int64(0); ; {
		tokens, err := st.Tokens(ctx, before, page)
		if err != nil {
			return err
		}
		for _, t := range tokens {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, cell(t.Name), t.Role, cell(t.CreatedBy),
				when(&t.CreatedAt), when(t.LastUsedAt), when(t.ExpiresAt), when(t.RevokedAt))
		}
		if len(tokens) < page {
			break
		}
		before = tokens[len(tokens)-1].ID
	}
	return tw.Flush()
}

// cell escapes the tabs, line breaks and other control characters of a name, which
// would break the table.
func cell(s string) string {
	q := strconv.Quote(s)
	return q[1 : len(q)-1]
}

// when formats a time of the token table: RFC 3339 UTC, or - when unset.
func when(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func tokenRevoke(ctx context.Context, url string, id int64, getenv func(string) string, stderr io.Writer) error {
	st, err := openAccounts(ctx, url)
	if err != nil {
		return err
	}
	defer st.Close()
	t, err := st.RevokeToken(ctx, id, time.Now(), cliAudit(getenv))
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("no token %d, or it is revoked already", id)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "tagdrift: token %d %q revoked\n", t.ID, t.Name)
	return nil
}

// runUser is `tagdrift user add NAME --role admin|viewer`.
func runUser(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "add" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			_, err := fmt.Fprint(stdout, userUsage)
			return err
		}
		fmt.Fprint(stderr, userUsage)
		if len(args) == 0 {
			return &exitError{code: 2}
		}
		return usageError("unknown user command %q", args[0])
	}
	fs, url := accountFlags("tagdrift user add", userUsage, getenv, stderr)
	role := fs.String("role", "", "admin or viewer (required)")
	rest, err := parseAnywhere(fs, args[1:])
	if errors.Is(err, errHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	switch {
	case len(rest) == 0 || strings.TrimSpace(rest[0]) == "":
		fs.Usage()
		return usageError("user add needs a user name")
	case len(rest) > 1:
		return usageError("user add takes one user name, got %q", rest)
	}
	name := rest[0]
	if err := checkRole(*role); err != nil {
		return err
	}
	if *url == "" {
		return usageError("no database: set --database-url or TAGDRIFT_DATABASE_URL")
	}
	pw, err := readPassword(stdin, stderr)
	if err != nil {
		return err
	}
	hash, err := password.Hash(pw)
	if err != nil {
		return err
	}
	st, err := openAccounts(ctx, *url)
	if err != nil {
		return err
	}
	defer st.Close()
	u, err := st.AddUser(ctx, store.NewUser{Name: name, Role: *role, PasswordHash: hash}, cliAudit(getenv))
	if errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("user %q exists already", name)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "tagdrift: user %q (%s) added\n", u.Name, u.Role)
	return nil
}

// readPassword asks for a password twice on a terminal, without echo; from anything
// else it reads one line, without its line ending, so that scripts can pipe one in.
func readPassword(stdin io.Reader, stderr io.Writer) (string, error) {
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(stderr, "Password: ")
		first, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		fmt.Fprint(stderr, "Password again: ")
		second, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		if !bytes.Equal(first, second) {
			return "", errors.New("the passwords do not match")
		}
		return string(first), nil
	}
	// A little more than the longest password, so that an overlong one is refused
	// rather than cut, without reading an endless stream.
	line, err := bufio.NewReader(io.LimitReader(stdin, password.MaxLen+3)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password from stdin: %w", err)
	}
	line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	if line == "" {
		return "", errors.New("no password on stdin: give one line, or run on a terminal to be asked")
	}
	return line, nil
}
