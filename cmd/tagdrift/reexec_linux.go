package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// envFDVariable names the descriptor a re-executed tagdrift reads its TAGDRIFT_ variables
// from. It carries a number, never a secret.
const envFDVariable = "TAGDRIFT_ENV_FD"

// withoutSecretEnv makes sure the running process's environment never held tagdrift's
// variables (the database URL, the keys, the admin token): unsetting them does not
// remove them from /proc/<pid>/environ, which shows the environment the process started
// with. When environ holds any, it writes them to an anonymous memory file, and executes
// the same binary again with the rest of the environment and that file's descriptor; the
// new process reads them back from there (and closes it). It returns the environment to
// take the variables from: environ, or, after the re-execution, environ with them. On
// failure to re-execute it returns environ and the reason; the caller goes on, with the
// variables unset from the process as before.
func withoutSecretEnv(environ []string) ([]string, error) {
	var secret, rest []string
	fd := ""
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		switch {
		case k == envFDVariable:
			fd = v
		case strings.HasPrefix(k, "TAGDRIFT_"):
			secret = append(secret, kv)
		default:
			rest = append(rest, kv)
		}
	}
	if fd != "" {
		// A child must not read a descriptor it does not have.
		os.Unsetenv(envFDVariable)
		kept, err := readEnvFD(fd)
		if err != nil {
			return rest, err
		}
		return append(append(rest, secret...), kept...), nil
	}
	if len(secret) == 0 {
		return environ, nil
	}
	// No MFD_CLOEXEC: the descriptor must survive the execution.
	mfd, err := unix.MemfdCreate("tagdrift-env", 0)
	if err != nil {
		return environ, fmt.Errorf("keep the environment out of /proc: memfd: %w", err)
	}
	f := os.NewFile(uintptr(mfd), "tagdrift-env")
	if _, err := f.WriteString(strings.Join(secret, "\x00")); err != nil {
		f.Close()
		return environ, fmt.Errorf("keep the environment out of /proc: %w", err)
	}
	err = syscall.Exec("/proc/self/exe", os.Args, append(rest, envFDVariable+"="+strconv.Itoa(mfd)))
	f.Close()
	return environ, fmt.Errorf("keep the environment out of /proc: re-execute: %w", err)
}

// readEnvFD reads the variables withoutSecretEnv wrote, and closes the descriptor so that
// no child inherits it.
func readEnvFD(fd string) ([]string, error) {
	n, err := strconv.Atoi(fd)
	if err != nil || n < 3 {
		return nil, fmt.Errorf("%s=%q is not a descriptor", envFDVariable, fd)
	}
	f := os.NewFile(uintptr(n), "tagdrift-env")
	defer f.Close()
	if _, err := f.Seek(0, 0); err != nil {
		return nil, fmt.Errorf("read %s: %w", envFDVariable, err)
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", envFDVariable, err)
	}
	if len(b) == 0 {
		return nil, nil
	}
	return strings.Split(string(b), "\x00"), nil
}
