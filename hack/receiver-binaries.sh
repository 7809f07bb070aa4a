#!/usr/bin/env bash
# Builds the real notification receivers the notify tests send to, Alertmanager and
# Mailpit, from the Go module proxy into a cache directory when absent (both at once), and
# prints that directory. The tests find them through TAGDRIFT_RECEIVERS_DIR (set by
# hack/test-deps.sh) or run this script themselves.
#
#   hack/receiver-binaries.sh
#   ALERTMANAGER_VERSION=v0.35.0 MAILPIT_VERSION=v1.33.1 hack/receiver-binaries.sh
#
# Alertmanager cannot be built with `go install`: its ui/web.go embeds ui/app/dist, which
# the module zip does not ship. The module is copied out of the module cache, made
# writable, given a placeholder ui/app/dist/index.html and built with its own go.mod.
# Mailpit builds with a plain `go install` (about 5 minutes on 2 cores).
set -euo pipefail

am_version=${ALERTMANAGER_VERSION:-v0.35.0}
mp_version=${MAILPIT_VERSION:-v1.33.1}
cache=${TAGDRIFT_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/tagdrift}
dir="$cache/bin"
mkdir -p "$dir"
# Two test runs starting at once would build into the same files: the second waits for
# the first and then finds the binaries.
exec 9>"$dir/.receivers.lock"
flock 9

log() { echo "receiver-binaries: $*" >&2; }

# have NAME VERSION: the binary exists and was built from that version (a stamp file beside
# it, since neither binary reports its module version the same way).
have() { [ -x "$dir/$1" ] && [ "$(cat "$dir/.$1.version" 2>/dev/null)" = "$2" ]; }

export GOWORK=off GOFLAGS=-mod=mod CGO_ENABLED=0

build_alertmanager() {
	log "building alertmanager $am_version (about 80 s on 2 cores, cached afterwards)"
	local work src
	work=$(mktemp -d)
	# The module cache is read-only: copy the module out to add the missing UI assets.
	src=$(cd "$work" && go mod download -json "github.com/prometheus/alertmanager@$am_version" |
		sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
	[ -n "$src" ] || { log "cannot download github.com/prometheus/alertmanager@$am_version"; rm -rf "$work"; return 1; }
	cp -r "$src" "$work/alertmanager"
	chmod -R u+w "$work/alertmanager"
	mkdir -p "$work/alertmanager/ui/app/dist"
	echo '<!doctype html><title>Alertmanager</title>' >"$work/alertmanager/ui/app/dist/index.html"
	(cd "$work/alertmanager" && go build -trimpath -ldflags=-s -o "$dir/alertmanager.tmp" ./cmd/alertmanager)
	mv "$dir/alertmanager.tmp" "$dir/alertmanager"
	echo "$am_version" >"$dir/.alertmanager.version"
	chmod -R u+w "$work"
	rm -rf "$work"
}

build_mailpit() {
	log "building mailpit $mp_version (about 5 minutes on 2 cores, cached afterwards)"
	local work
	work=$(mktemp -d)
	# Outside this module: Mailpit's own go.mod decides its dependencies.
	(cd "$work" && GOBIN="$work" go install -trimpath -ldflags=-s "github.com/axllent/mailpit@$mp_version")
	mv "$work/mailpit" "$dir/mailpit"
	echo "$mp_version" >"$dir/.mailpit.version"
	rm -rf "$work"
}

pids=()
have alertmanager "$am_version" || { build_alertmanager & pids+=($!); }
have mailpit "$mp_version" || { build_mailpit & pids+=($!); }
failed=0
for p in "${pids[@]}"; do
	wait "$p" || failed=1
done
[ "$failed" = 0 ] || { log "a build failed"; exit 1; }
echo "$dir"
