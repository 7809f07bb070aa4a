#!/usr/bin/env bash
# Builds the distribution registry (github.com/distribution/distribution/v3/cmd/registry)
# with `go install` into a cache directory when absent, and prints the binary's path. The
# real-node tests (internal/kubeenv) run it as the local plain-http registry their node pulls
# from.
#
#   hack/registry-binary.sh
#   REGISTRY_VERSION=v3.1.2 hack/registry-binary.sh
set -euo pipefail

version=${REGISTRY_VERSION:-v3.1.2}
cache=${TAGDRIFT_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/tagdrift}
dir="$cache/registry/$version"
mkdir -p "$dir"
# Concurrent runs wait for one build rather than racing on the same files.
exec 9>"$dir/.lock"
flock 9
if [ ! -x "$dir/registry" ]; then
	echo "registry-binary: building registry $version (a few minutes on 2 cores, cached afterwards)" >&2
	# Outside this module: the registry's own go.mod decides its dependencies.
	(cd "$dir" && GOWORK=off GOFLAGS=-mod=mod GOBIN="$dir" CGO_ENABLED=0 \
		go install -trimpath -ldflags=-s "github.com/distribution/distribution/v3/cmd/registry@$version")
fi
echo "$dir/registry"
