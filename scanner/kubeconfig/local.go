// Package kubeconfig turns kubeconfig files into client configurations, one per context.
package kubeconfig

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Target is one cluster to scan: a kubeconfig context. Err is set when the context could
// not be turned into a client configuration; the other targets are still usable.
type Target struct {
	Name   string
	Server string
	Config *rest.Config
	Err    error
}

// Selection says which contexts of a kubeconfig to use: the named ones, all of them, or
// (neither set) the current context.
type Selection struct {
	Contexts []string
	All      bool
}

// LoadLocal reads the user's own kubeconfig, as kubectl would, for the one-shot scan: it
// is trusted input, so exec plugins and file references work as they do for kubectl.
// path is the --kubeconfig flag; when empty, $KUBECONFIG (a list of files, merged) is
// used, then ~/.kube/config. getenv reads the environment.
func LoadLocal(path string, sel Selection, getenv func(string) string) ([]Target, error) {
	rules, source, err := loadingRules(path, getenv)
	if err != nil {
		return nil, err
	}
	raw, err := rules.Load()
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig %s: %w", source, err)
	}
	names, err := selectContexts(raw, sel, source)
	if err != nil {
		return nil, err
	}
	targets := make([]Target, 0, len(names))
	for _, name := range names {
		t := Target{Name: name}
		kctx, ok := raw.Contexts[name]
		if !ok {
			t.Err = fmt.Errorf("context %q not found in kubeconfig %s", name, source)
			targets = append(targets, t)
			continue
		}
		if c, ok := raw.Clusters[kctx.Cluster]; ok {
			t.Server = c.Server
		}
		cfg, err := clientcmd.NewNonInteractiveClientConfig(*raw, name, &clientcmd.ConfigOverrides{}, rules).ClientConfig()
		if err != nil {
			t.Err = fmt.Errorf("context %q: %w", name, err)
		} else {
			t.Config = cfg
		}
		targets = append(targets, t)
	}
	return targets, nil
}

func loadingRules(path string, getenv func(string) string) (*clientcmd.ClientConfigLoadingRules, string, error) {
	if path != "" {
		return &clientcmd.ClientConfigLoadingRules{ExplicitPath: path}, path, nil
	}
	if env := getenv("KUBECONFIG"); env != "" {
		files := filepath.SplitList(env)
		return &clientcmd.ClientConfigLoadingRules{Precedence: files}, "$KUBECONFIG (" + env + ")", nil
	}
	home := getenv("HOME")
	if home == "" {
		return nil, "", errors.New("no kubeconfig: set --kubeconfig or $KUBECONFIG")
	}
	def := filepath.Join(home, ".kube", "config")
	if _, err := os.Stat(def); err != nil {
		return nil, "", fmt.Errorf("no kubeconfig: set --kubeconfig or $KUBECONFIG (%w)", err)
	}
	return &clientcmd.ClientConfigLoadingRules{ExplicitPath: def}, def, nil
}

func selectContexts(raw *clientcmdapi.Config, sel Selection, source string) ([]string, error) {
	switch {
	case sel.All:
		if len(raw.Contexts) == 0 {
			return nil, fmt.Errorf("kubeconfig %s has no contexts", source)
		}
		names := make([]string, 0, len(raw.Contexts))
		for name := range raw.Contexts {
			names = append(names, name)
		}
		slices.Sort(names)
		return names, nil
	case len(sel.Contexts) > 0:
		var names []string
		for _, n := range sel.Contexts {
			if !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
		return names, nil
	case raw.CurrentContext == "":
		return nil, fmt.Errorf("kubeconfig %s has no current context: use --context or --all-contexts", source)
	default:
		return []string{raw.CurrentContext}, nil
	}
}
