package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/term"

	"github.com/tagdrift/tagdrift/server/access/password"
	"github.com/tagdrift/tagdrift/store"
)

// tokenCmd is `tagdrift token create|list|revoke`. Each talks to the database
// directly, to make the first token before the API can be used.
type tokenCmd struct {
	databaseFlag `embed:""`

	Create tokenCreateCmd `cmd:"" help:"Make a token and print its secret, the only time it is shown."`
	List   tokenListCmd   `cmd:"" help:"List the tokens, secrets never shown."`
	Revoke tokenRevokeCmd `cmd:"" help:"Revoke a token by its id."`
	Scope  tokenScopeCmd  `cmd:"" help:"Scope a token to cluster groups (--group, repeatable), or to every cluster with none; never wider than its owner's scope."`
}

type tokenCreateCmd struct {
	Name    string        `help:"what the token is for, shown in lists and the audit trail (required)"`
	Role    string        `help:"admin or viewer (required)"`
	Expires time.Duration `help:"lifetime, such as 720h; 0 never expires"`
}

func (c *tokenCreateCmd) Run(ctx context.Context, d *deps, t *tokenCmd) error {
	return tokenCreate(ctx, t.DatabaseURL, c.Name, c.Role, c.Expires, d.getenv, d.stdout, d.stderr)
}

type tokenListCmd struct{}

func (tokenListCmd) Run(ctx context.Context, d *deps, t *tokenCmd) error {
	return tokenList(ctx, t.DatabaseURL, d.stdout)
}

type tokenRevokeCmd struct {
	ID int64 `arg:"" help:"the token's id, from token list"`
}

func (c *tokenRevokeCmd) Run(ctx context.Context, d *deps, t *tokenCmd) error {
	if c.ID <= 0 {
		return usageError("token revoke takes a token id, not %d", c.ID)
	}
	return tokenRevoke(ctx, t.DatabaseURL, c.ID, d.getenv, d.stderr)
}

type tokenScopeCmd struct {
	ID    int64    `arg:"" help:"the token's id, from token list"`
	Group []string `help:"a cluster group whose clusters the token covers; repeatable; none for every cluster"`
}

func (c *tokenScopeCmd) Run(ctx context.Context, d *deps, t *tokenCmd) error {
	if c.ID <= 0 {
		return usageError("token scope takes a token id, not %d", c.ID)
	}
	st, err := openAccounts(ctx, t.DatabaseURL)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.SetTokenScope(ctx, c.ID, c.Group, cliAudit(d.getenv)); err != nil {
		return scopeError(err, fmt.Sprintf("token %d", c.ID))
	}
	fmt.Fprintf(d.stderr, "tagdrift: token %d covers %s\n", c.ID, scopeText(c.Group))
	return nil
}

// scopeError words a refused scope change for the command line.
func scopeError(err error, what string) error {
	switch {
	case errors.Is(err, store.ErrScopeWider):
		return fmt.Errorf("%s: a token's scope cannot be wider than its owner's", what)
	case errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("%s: no such %s, or no such cluster group: %w", what, strings.Fields(what)[0], err)
	}
	return err
}

// scopeText says what a scope of groups covers.
func scopeText(groups []string) string {
	if len(groups) == 0 {
		return "every cluster"
	}
	return "the clusters of " + strings.Join(groups, ", ")
}

// userCmd is `tagdrift user add NAME --role admin|viewer` and `tagdrift user scope`.
type userCmd struct {
	Add    userAddCmd    `cmd:"" help:"Add a user; the password is asked twice on a terminal, otherwise the first line of stdin is read."`
	Scope  userScopeCmd  `cmd:"" help:"Scope a user's role to cluster groups (--group, repeatable), or to every cluster with none."`
	Grants userGrantsCmd `cmd:"" help:"Set a user's grants: --admin and --viewer each a cluster group (repeatable) or * for every cluster; they combine."`
}

type userGrantsCmd struct {
	databaseFlag `embed:""`

	Name   string   `arg:"" help:"the user's name"`
	Admin  []string `help:"a cluster group whose clusters the user administers, or * for every cluster; repeatable"`
	Viewer []string `help:"a cluster group whose clusters the user reads, or * for every cluster; repeatable"`
}

func (c *userGrantsCmd) Run(ctx context.Context, d *deps) error {
	var named []store.NamedGrant
	for _, g := range []struct {
		role   string
		values []string
	}{{store.RoleAdmin, c.Admin}, {store.RoleViewer, c.Viewer}} {
		if len(g.values) == 0 {
			continue
		}
		n := store.NamedGrant{Role: g.role}
		if !slices.Contains(g.values, "*") {
			n.Groups = g.values
		}
		named = append(named, n)
	}
	if len(named) == 0 {
		return usageError("user grants needs --admin or --viewer (a cluster group, or * for every cluster)")
	}
	st, err := openAccounts(ctx, c.DatabaseURL)
	if err != nil {
		return err
	}
	defer st.Close()
	u, err := st.SetUserGrants(ctx, c.Name, named, cliAudit(d.getenv))
	if err != nil {
		return scopeError(err, fmt.Sprintf("user %q", c.Name))
	}
	groups, err := st.Groups(ctx, store.Scope{})
	if err != nil {
		return err
	}
	var parts []string
	for _, g := range u.Grants {
		on := "every cluster"
		if g.Scope.Limited {
			var names []string
			for _, cg := range groups {
				if g.Scope.HasGroup(cg.ID) {
					names = append(names, cg.Name)
				}
			}
			on = "the clusters of " + strings.Join(names, ", ")
		}
		parts = append(parts, g.Role+" on "+on)
	}
	fmt.Fprintf(d.stderr, "tagdrift: user %q holds %s\n", u.Name, strings.Join(parts, "; "))
	return nil
}

type userScopeCmd struct {
	databaseFlag `embed:""`

	Name  string   `arg:"" help:"the user's name"`
	Group []string `help:"a cluster group whose clusters the user's role covers; repeatable; none for every cluster"`
}

func (c *userScopeCmd) Run(ctx context.Context, d *deps) error {
	st, err := openAccounts(ctx, c.DatabaseURL)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.SetUserScope(ctx, c.Name, c.Group, cliAudit(d.getenv)); err != nil {
		return scopeError(err, fmt.Sprintf("user %q", c.Name))
	}
	fmt.Fprintf(d.stderr, "tagdrift: user %q covers %s\n", c.Name, scopeText(c.Group))
	return nil
}

type userAddCmd struct {
	databaseFlag `embed:""`

	// Optional to kong, so that a missing name gets the message below.
	Name string `arg:"" optional:"" help:"the user's name"`
	Role string `help:"admin or viewer (required)"`
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
	return store.Open(ctx, url, nil, nil)
}

// cliAudit names who runs the command in the audit trail: "cli:" and the OS user.
func cliAudit(getenv func(string) string) store.Audit {
	var name string
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	return store.Audit{Actor: "cli:" + cmp.Or(name, getenv("USER"), "unknown")}
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

func (c *userAddCmd) Run(ctx context.Context, d *deps) error {
	if strings.TrimSpace(c.Name) == "" {
		return usageError("user add needs a user name")
	}
	name, stdin, stderr, getenv := c.Name, d.stdin, d.stderr, d.getenv
	if err := checkRole(c.Role); err != nil {
		return err
	}
	if err := c.need(); err != nil {
		return err
	}
	pw, err := readPassword(stdin, stderr)
	if err != nil {
		return err
	}
	hash, err := password.Hash(pw)
	if err != nil {
		return err
	}
	st, err := openAccounts(ctx, c.DatabaseURL)
	if err != nil {
		return err
	}
	defer st.Close()
	u, err := st.AddUser(ctx, store.NewUser{Name: name, Role: c.Role, PasswordHash: hash}, cliAudit(getenv))
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
