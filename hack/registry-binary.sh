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
	echo "registry-binary: building registry $version (about $((10 / $(nproc))) minutes on $(nproc) cores, cached afterwards)" >&2
	start=$SECONDS
	# Outside this module: the registry's own go.mod decides its dependencies. go's
	# "downloading" lines go to a log, shown only when the build fails.
	if ! (cd "$dir" && GOWORK=off GOFLAGS=-mod=mod GOBIN="$dir" CGO_ENABLED=0 \
		go install -trimpath -ldflags=-s "github.com/distribution/distribution/v3/cmd/registry@$version") >"$dir/build.log" 2>&1; then
		cat "$dir/build.log" >&2
		echo "registry-binary: build failed (log: $dir/build.log)" >&2
		exit 1
	fi
	echo "registry-binary: built registry in $(((SECONDS - start) / 60)) min $(((SECONDS - start) % 60)) s" >&2
fi
echo "$dir/registry"
