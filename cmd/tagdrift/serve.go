package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/tagdrift/tagdrift/scanner/kubeconfig"
	"github.com/tagdrift/tagdrift/server"
	"github.com/tagdrift/tagdrift/server/scheduler"
	"github.com/tagdrift/tagdrift/store"
	"github.com/tagdrift/tagdrift/store/keyring"
)

// serveConfig is tagdrift serve's configuration: each flag has an environment variable
// (README.md has the table).
type serveConfig struct {
	databaseURL     string
	listen          string
	keyFile         string
	keyText         string // TAGDRIFT_ENCRYPTION_KEY
	noMigrate       bool
	scanConcurrency int
	scanTimeout     time.Duration
	scanInterval    time.Duration
	clusters        stringList
	allowInsecure   bool
	execPlugins     stringList
	networks        stringList
	logLevel        string
	adminToken      string  // TAGDRIFT_ADMIN_TOKEN only: a flag would show in ps
	apiRate         float64 // requests per second per API token
}

// serveEnv lists the environment variables serve reads, one per flag (and the key).
var serveEnv = []string{
	"TAGDRIFT_DATABASE_URL", "TAGDRIFT_LISTEN", "TAGDRIFT_ENCRYPTION_KEY_FILE", "TAGDRIFT_ENCRYPTION_KEY",
	"TAGDRIFT_NO_MIGRATE", "TAGDRIFT_SCAN_CONCURRENCY", "TAGDRIFT_SCAN_TIMEOUT", "TAGDRIFT_SCAN_INTERVAL",
	"TAGDRIFT_CLUSTER_KUBECONFIG", "TAGDRIFT_ALLOW_INSECURE_TLS", "TAGDRIFT_ALLOW_EXEC_PLUGIN",
	"TAGDRIFT_ALLOW_CLUSTER_NETWORK", "TAGDRIFT_LOG_LEVEL", "TAGDRIFT_ADMIN_TOKEN", "TAGDRIFT_API_RATE_LIMIT",
}

// envDefault is an environment variable that gives a flag its default.
func envDefault(getenv func(string) string, name, def string) string {
	if v := getenv(name); v != "" {
		return v
	}
	return def
}

func envList(getenv func(string) string, name string) stringList {
	var out stringList
	for _, v := range strings.Split(getenv(name), ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

func parseServe(args []string, getenv func(string) string, stderr io.Writer) (serveConfig, error) {
	var c serveConfig
	fs := flag.NewFlagSet("tagdrift serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.databaseURL, "database-url", getenv("TAGDRIFT_DATABASE_URL"), "PostgreSQL URL (TAGDRIFT_DATABASE_URL)")
	fs.StringVar(&c.listen, "listen", envDefault(getenv, "TAGDRIFT_LISTEN", ":8080"), "HTTP listen address (TAGDRIFT_LISTEN)")
	fs.StringVar(&c.keyFile, "encryption-key-file", getenv("TAGDRIFT_ENCRYPTION_KEY_FILE"), "file of base64 AES-256 keys, one a line, newest last (TAGDRIFT_ENCRYPTION_KEY_FILE; or the keys themselves in TAGDRIFT_ENCRYPTION_KEY)")
	boolDefault := func(name string) bool { b, _ := strconv.ParseBool(getenv(name)); return b }
	fs.BoolVar(&c.noMigrate, "no-migrate", boolDefault("TAGDRIFT_NO_MIGRATE"), "do not migrate the database at start (TAGDRIFT_NO_MIGRATE)")
	conc, _ := strconv.Atoi(envDefault(getenv, "TAGDRIFT_SCAN_CONCURRENCY", "4"))
	fs.IntVar(&c.scanConcurrency, "scan-concurrency", conc, "scans this replica runs at once (TAGDRIFT_SCAN_CONCURRENCY)")
	timeout, _ := time.ParseDuration(envDefault(getenv, "TAGDRIFT_SCAN_TIMEOUT", "2m"))
	fs.DurationVar(&c.scanTimeout, "scan-timeout", timeout, "time limit of one scan (TAGDRIFT_SCAN_TIMEOUT)")
	interval, _ := time.ParseDuration(envDefault(getenv, "TAGDRIFT_SCAN_INTERVAL", "5m"))
	fs.DurationVar(&c.scanInterval, "scan-interval", interval, "scan interval of clusters registered with --cluster-kubeconfig (TAGDRIFT_SCAN_INTERVAL)")
	c.clusters = envList(getenv, "TAGDRIFT_CLUSTER_KUBECONFIG")
	fs.Var(&c.clusters, "cluster-kubeconfig", "FILE[:CONTEXT] to register at start when absent; repeatable (TAGDRIFT_CLUSTER_KUBECONFIG, comma-separated)")
	fs.BoolVar(&c.allowInsecure, "allow-insecure-tls", boolDefault("TAGDRIFT_ALLOW_INSECURE_TLS"), "accept kubeconfigs with insecure-skip-tls-verify (TAGDRIFT_ALLOW_INSECURE_TLS)")
	c.execPlugins = envList(getenv, "TAGDRIFT_ALLOW_EXEC_PLUGIN")
	fs.Var(&c.execPlugins, "allow-exec-plugin", "exec credential plugin command that kubeconfigs may use; repeatable (TAGDRIFT_ALLOW_EXEC_PLUGIN)")
	c.networks = envList(getenv, "TAGDRIFT_ALLOW_CLUSTER_NETWORK")
	fs.Var(&c.networks, "allow-cluster-network", "internal network (CIDR) clusters may be reached on; repeatable (TAGDRIFT_ALLOW_CLUSTER_NETWORK)")
	rate, _ := strconv.ParseFloat(envDefault(getenv, "TAGDRIFT_API_RATE_LIMIT", "50"), 64)
	fs.Float64Var(&c.apiRate, "api-rate-limit", rate, "API requests per second each token may make, bursts of twice that (TAGDRIFT_API_RATE_LIMIT)")
	fs.StringVar(&c.logLevel, "log-level", envDefault(getenv, "TAGDRIFT_LOG_LEVEL", "info"), "debug, info, warn or error (TAGDRIFT_LOG_LEVEL)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	c.keyText = getenv("TAGDRIFT_ENCRYPTION_KEY")
	c.adminToken = getenv("TAGDRIFT_ADMIN_TOKEN")
	return c, c.validate()
}

func (c serveConfig) validate() error {
	switch {
	case c.databaseURL == "":
		return errors.New("no database: set --database-url or TAGDRIFT_DATABASE_URL")
	case c.keyFile == "" && c.keyText == "":
		return fmt.Errorf("no encryption key: set --encryption-key-file or TAGDRIFT_ENCRYPTION_KEY (%s)", keyring.HowToMakeAKey)
	case c.scanConcurrency <= 0:
		return fmt.Errorf("--scan-concurrency must be positive, not %d", c.scanConcurrency)
	case c.scanTimeout <= 0:
		return fmt.Errorf("--scan-timeout must be positive, not %s", c.scanTimeout)
	case c.scanInterval < 10*time.Second:
		return fmt.Errorf("--scan-interval must be at least 10s, not %s", c.scanInterval)
	case c.apiRate <= 0:
		return fmt.Errorf("--api-rate-limit must be positive, not %g", c.apiRate)
	case c.adminToken != "" && len(c.adminToken) < 16:
		// A short shared secret is guessable; the rate limit does not stop a patient guess.
		return errors.New("TAGDRIFT_ADMIN_TOKEN must be at least 16 characters")
	}
	return nil
}

func (c serveConfig) logger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level})), nil
}

func (c serveConfig) ring() (*keyring.Ring, error) {
	text := c.keyText
	if c.keyFile != "" {
		b, err := os.ReadFile(c.keyFile)
		if err != nil {
			return nil, fmt.Errorf("encryption key: %w", err)
		}
		text = string(b)
	}
	r, err := keyring.Parse(text)
	if err != nil {
		return nil, fmt.Errorf("encryption key: %w", err)
	}
	return r, nil
}

func (c serveConfig) dialer() (*kubeconfig.Dialer, error) {
	d := &kubeconfig.Dialer{}
	for _, n := range c.networks {
		p, err := netip.ParsePrefix(n)
		if err != nil {
			return nil, fmt.Errorf("--allow-cluster-network %q: %w", n, err)
		}
		d.Allowed = append(d.Allowed, p.Masked())
	}
	return d, nil
}

func runServe(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	cfg, err := parseServe(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	log, err := cfg.logger(stderr)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	ring, err := cfg.ring()
	if err != nil {
		return err
	}
	dialer, err := cfg.dialer()
	if err != nil {
		return err
	}
	if err := migrateOnStart(cfg, log); err != nil {
		return err
	}
	st, err := store.Open(ctx, cfg.databaseURL, ring)
	if err != nil {
		return err
	}
	defer st.Close()
	// A wrong or missing key fails here, not at the first scan.
	if err := st.CheckCredentials(ctx); err != nil {
		return fmt.Errorf("check stored credentials with the encryption key: %w", err)
	}
	policy := kubeconfig.Policy{AllowInsecureTLS: cfg.allowInsecure, ExecPlugins: cfg.execPlugins}
	for _, spec := range cfg.clusters {
		if err := registerCluster(ctx, st, spec, policy, cfg.scanInterval, log); err != nil {
			return err
		}
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	scheduler.NewOpenMutationsCollector(reg, st)
	sched, err := scheduler.New(scheduler.Config{
		Store: st, Dialer: dialer, ScanTimeout: cfg.scanTimeout, Concurrency: cfg.scanConcurrency,
		UserAgent: "tagdrift/" + version, Metrics: scheduler.NewMetrics(reg), Logger: log,
	})
	if err != nil {
		return err
	}
	ready := func(ctx context.Context) error {
		if err := st.Ping(ctx); err != nil {
			return fmt.Errorf("database: %w", err)
		}
		m, err := store.NewMigrator(cfg.databaseURL)
		if err != nil {
			return err
		}
		defer m.Close()
		if ok, err := m.Current(); err != nil || !ok {
			return fmt.Errorf("database schema is not current (%v): run tagdrift migrate up", err)
		}
		return nil
	}
	httpSrv := &http.Server{
		Addr: cfg.listen,
		Handler: server.New(server.Config{
			Ready: ready, Registry: reg, Logger: log,
			Store: st, Scans: sched, Policy: policy, AdminToken: cfg.adminToken,
			RateLimit: cfg.apiRate, RateBurst: int(2 * cfg.apiRate),
		}),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	ln, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.listen, err)
	}
	if err := sched.Start(ctx); err != nil {
		ln.Close()
		return fmt.Errorf("start scheduler: %w", err)
	}
	log.Info("serving", "listen", ln.Addr().String(), "version", version)
	httpErr := make(chan error, 1)
	go func() { httpErr <- httpSrv.Serve(ln) }()

	select {
	case <-ctx.Done():
	case err = <-httpErr:
	}
	log.Info("shutting down")
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	// Scans in flight are cancelled, recorded aborted, and retried later.
	stopErr := sched.Stop(stopCtx)
	shutErr := httpSrv.Shutdown(stopCtx)
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return errors.Join(err, stopErr, shutErr)
}

func migrateOnStart(cfg serveConfig, log *slog.Logger) error {
	m, err := store.NewMigrator(cfg.databaseURL)
	if err != nil {
		return err
	}
	defer m.Close()
	if cfg.noMigrate {
		ok, err := m.Current()
		if err != nil {
			return err
		}
		if !ok {
			return errors.New("database schema is not current and --no-migrate is set: run tagdrift migrate up")
		}
		return nil
	}
	if err := m.Up(); err != nil {
		return err
	}
	v, _, err := m.Version()
	log.Info("database schema", "version", v)
	return err
}

// registerCluster registers FILE[:CONTEXT] as a cluster named after its context, unless
// a cluster of that name exists.
func registerCluster(ctx context.Context, st *store.Store, spec string, policy kubeconfig.Policy, interval time.Duration, log *slog.Logger) error {
	file, contextName := spec, ""
	if i := strings.LastIndexByte(spec, ':'); i > 0 {
		if _, err := os.Stat(spec); err != nil {
			file, contextName = spec[:i], spec[i+1:]
		}
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("--cluster-kubeconfig %s: %w", spec, err)
	}
	reduced, err := kubeconfig.Vet(raw, contextName, policy)
	if err != nil {
		return fmt.Errorf("--cluster-kubeconfig %s: %w", spec, err)
	}
	creds, err := json.Marshal(reduced)
	if err != nil {
		return err
	}
	_, err = st.CreateCluster(ctx, store.NewCluster{
		Name: reduced.Context, Server: reduced.Server, Context: reduced.Context,
		Credentials: creds, ScanInterval: interval, Enabled: true,
	})
	if errors.Is(err, store.ErrConflict) {
		log.Info("cluster already registered", "cluster", reduced.Context)
		return nil
	}
	if err != nil {
		return fmt.Errorf("--cluster-kubeconfig %s: %w", spec, err)
	}
	log.Info("cluster registered", "cluster", reduced.Context, "server", reduced.Server)
	return nil
}
