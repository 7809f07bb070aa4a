// Command tagdrift-demo plays tagdrift's demonstration: it pushes an image under a tag,
// runs it in a Deployment, moves the tag to other content and scales up, so that the
// pods of one revision run two digests of one tag: a real mutation.
//
// docker-compose.yaml runs it (the Dockerfile's demo stage):
//
//	tagdrift-demo init    make the encryption key and the admin's password (once), hand
//	                      k3s's kubeconfig to tagdrift, migrate and add the admin user
//	tagdrift-demo play    push, deploy, move the tag, scale up
//	tagdrift-demo app     the demo image's program: print its content, wait for SIGTERM
//
// Each reads its settings from the environment (see config). `make demo` runs
//
//	tagdrift-demo local [--tagdrift bin/tagdrift] [--listen 127.0.0.1:8080] [--fake-kubelet]
//
// the same experience without Docker (see runLocal).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "tagdrift-demo: %v\n", err)
		os.Exit(1)
	}
}

const usage = "usage: tagdrift-demo init|play|app|local"

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New(usage)
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	switch args[0] {
	case "init":
		cfg, err := loadConfig(getenv)
		if err != nil {
			return err
		}
		return composeInit(ctx, cfg, stdout, log)
	case "play":
		cfg, err := loadConfig(getenv)
		if err != nil {
			return err
		}
		return composePlay(ctx, cfg, stdout, log)
	case "app":
		return app(ctx, stdout)
	case "local":
		return runLocal(ctx, args[1:], stdout, stderr)
	}
	return fmt.Errorf("unknown command %q; %s", args[0], usage)
}

// app is the program in the demo image: it says which content it runs and waits to be
// stopped.
func app(ctx context.Context, stdout io.Writer) error {
	b, err := os.ReadFile(contentPath)
	if err != nil {
		return fmt.Errorf("read %s: %w", contentPath, err)
	}
	fmt.Fprintf(stdout, "tagdrift demo app, content %q: waiting for SIGTERM\n", b)
	<-ctx.Done()
	return nil
}
