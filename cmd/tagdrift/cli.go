package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"

	"github.com/alecthomas/kong"
)

// cli is tagdrift's command line. kong builds the parser, the help and the environment
// fallbacks from these struct tags: a flag's `env` tag names the variable that gives it
// its value when the flag is not on the command line.
type cli struct {
	Scan    scanCmd     `cmd:"" help:"Scan clusters from a kubeconfig once and report mutations."`
	Serve   serveConfig `cmd:"" help:"Run the service: scheduled scans of registered clusters."`
	Migrate migrateCmd  `cmd:"" help:"Manage the database schema."`
	Keys    keysCmd     `cmd:"" help:"Make an encryption key; re-seal credentials under the newest."`
	Token   tokenCmd    `cmd:"" help:"Manage API tokens."`
	User    userCmd     `cmd:"" help:"Manage users of the web UI."`
	Version versionCmd  `cmd:"" help:"Print the version."`
}

const description = "tagdrift finds container images whose tag resolved to different code."

// deps is what the commands' Run methods are given besides the context.
type deps struct {
	getenv func(string) string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	env    *environment
}

// environment reads the variables of the flags' env tags through an injected getenv,
// never the process's own environment, so that tests stay hermetic. It is a kong
// resolver: a flag missing from the command line takes its variable's value, parsed as
// strictly as the flag itself.
type environment struct {
	getenv func(string) string
	vars   map[*kong.Flag][]string // a flag's variables, taken from its env tag
	from   map[string]string       // flag name → the variable that set it in this parse
}

// takeEnvs moves the variables of the model's env tags into e. kong itself would read
// them with os.LookupEnv; with the tags emptied it reads none, and e resolves them.
func (e *environment) takeEnvs(app *kong.Application) error {
	return kong.Visit(app, func(n kong.Visitable, next kong.Next) error {
		if f, ok := n.(*kong.Flag); ok && len(f.Tag.Envs) > 0 {
			e.vars[f] = slices.Clone(f.Tag.Envs)
			f.Tag.Envs, f.Envs = nil, nil
		}
		return next(nil)
	})
}

// Validate is part of kong.Resolver.
func (e *environment) Validate(*kong.Application) error { return nil }

// Resolve is part of kong.Resolver: the value of flag f from its variable, if set and
// not empty. A value that does not parse is an envError naming the variable.
func (e *environment) Resolve(_ *kong.Context, _ *kong.Path, f *kong.Flag) (any, error) {
	for _, name := range e.vars[f] {
		v := e.getenv(name)
		if v == "" {
			continue
		}
		var value any = v
		if f.Target.Kind() == reflect.Slice {
			// A list: comma-separated, spaces around the items ignored.
			var items []any
			for _, item := range strings.Split(v, ",") {
				if item = strings.TrimSpace(item); item != "" {
					items = append(items, item)
				}
			}
			if len(items) == 0 {
				continue
			}
			value = items
		}
		// Parse into a scratch value first, so that a bad value is reported by the
		// name of the variable that holds it, not only by the flag's; a list item by item.
		check := []any{value}
		if items, ok := value.([]any); ok {
			check = items
		}
		for _, v := range check {
			scratch := reflect.New(f.Target.Type()).Elem()
			if err := f.Parse(kong.Scan().PushTyped(v, kong.FlagValueToken), scratch); err != nil {
				if inner := errors.Unwrap(err); inner != nil {
					err = inner
				}
				return nil, &envError{name: name, flag: f.Name, err: err}
			}
		}
		e.from[f.Name] = name
		return value, nil
	}
	return nil, nil
}

// envError is a variable whose value does not parse.
type envError struct {
	name, flag string
	err        error
}

func (e *envError) Error() string {
	return fmt.Sprintf("%s (for --%s): %v", e.name, e.flag, e.err)
}

func (e *envError) Unwrap() error { return e.err }

// source names where a flag's value came from in this parse, for error messages: its
// variable when the variable set it, else the flag.
func (e *environment) source(flag string) string {
	if name, ok := e.from[flag]; ok {
		return name
	}
	return "--" + flag
}

// helpValue is the help of a flag: its text, its default and its variables.
func (e *environment) helpValue(v *kong.Value) string {
	help := v.Help
	var notes []string
	// Without a placeholder, kong shows the default in its place.
	if v.HasDefault && v.Default != "" && v.Flag != nil && v.Flag.PlaceHolder != "" {
		notes = append(notes, "default "+v.Default)
	}
	if v.Flag != nil {
		for _, name := range e.vars[v.Flag] {
			note := "$" + name
			if v.Target.Kind() == reflect.Slice {
				note += ", comma-separated"
			}
			notes = append(notes, note)
		}
	}
	if len(notes) > 0 {
		help += " (" + strings.Join(notes, "; ") + ")"
	}
	return help
}

// newParser builds the command line's parser on c, reading variables through getenv.
// exit is what kong calls after --help.
func newParser(c *cli, getenv func(string) string, stdout, stderr io.Writer, exit func(int)) (*kong.Kong, *environment, error) {
	env := &environment{getenv: getenv, vars: map[*kong.Flag][]string{}, from: map[string]string{}}
	k, err := kong.New(c,
		kong.Name("tagdrift"),
		kong.Description(description),
		kong.Writers(stdout, stderr),
		kong.Exit(exit),
		kong.Resolvers(env),
		kong.ValueFormatter(env.helpValue),
		kong.ConfigureHelp(kong.HelpOptions{Compact: true, NoExpandSubcommands: false}),
	)
	if err != nil {
		return nil, nil, fmt.Errorf("build the command line: %w", err)
	}
	if err := env.takeEnvs(k.Model); err != nil {
		return nil, nil, err
	}
	return k, env, nil
}

// helpArgs turns the help and version spellings kong does not know into ones it does:
// `tagdrift help`, `tagdrift token help`, `tagdrift --version`.
func helpArgs(args []string) []string {
	switch {
	case len(args) == 1 && args[0] == "help":
		return []string{"--help"}
	case len(args) == 1 && args[0] == "--version":
		return []string{"version"}
	case len(args) == 2 && args[1] == "help" && slices.Contains([]string{"migrate", "keys", "token", "user"}, args[0]):
		return []string{args[0], "--help"}
	}
	return args
}

// runStdin is the whole program: main only binds it to the process, so tests run it as
// is. Only `user add` reads stdin, for a password.
func runStdin(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	var c cli
	helped := false
	k, env, err := newParser(&c, getenv, stdout, stderr, func(int) { helped = true })
	if err != nil {
		return err
	}
	kctx, err := k.Parse(helpArgs(args))
	if helped {
		return nil // --help printed the help; whatever else is missing does not matter
	}
	if err != nil {
		var perr *kong.ParseError
		if errors.As(err, &perr) && perr.Context != nil {
			// The usage goes to stderr with the error, stdout stays for output.
			// A command missing its subcommand gets the whole help, which lists them.
			node := perr.Context.Selected()
			summary := node != nil && len(node.Children) == 0
			k.Stdout = stderr
			_ = perr.Context.PrintUsage(summary)
			k.Stdout = stdout
		}
		var ee *envError
		if errors.As(err, &ee) {
			err = ee
		}
		return &exitError{code: 2, err: err}
	}
	kctx.BindTo(ctx, (*context.Context)(nil))
	return kctx.Run(&deps{getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr, env: env})
}

// usageError is a mistake in the command line that kong cannot see: exit status 2.
func usageError(format string, a ...any) error {
	return &exitError{code: 2, err: fmt.Errorf(format, a...)}
}

// databaseFlag is the flag of every command that talks to the database.
type databaseFlag struct {
	DatabaseURL string `name:"database-url" env:"TAGDRIFT_DATABASE_URL" placeholder:"URL" help:"PostgreSQL URL"`
}

func (f databaseFlag) need() error {
	if f.DatabaseURL == "" {
		return usageError("no database: set --database-url or TAGDRIFT_DATABASE_URL")
	}
	return nil
}

type versionCmd struct{}

func (versionCmd) Run(d *deps) error {
	_, err := fmt.Fprintf(d.stdout, "tagdrift %s\n", version)
	return err
}
