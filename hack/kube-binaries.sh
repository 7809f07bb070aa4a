#!/usr/bin/env bash
# Builds kube-apiserver, kube-controller-manager and kubelet from the Go module proxy into a
# cache directory and prints that directory (the envtest KUBEBUILDER_ASSETS convention).
# etcd comes from Debian's etcd-server package and is linked into the same directory.
#
#   hack/kube-binaries.sh            # build if absent, print the directory
#   KUBE_VERSION=v1.35.4 hack/kube-binaries.sh
#
# A throwaway module requires k8s.io/kubernetes and replaces each staging module
# (listed with "=> ./staging/..." in that version's go.mod) by its published v0.Y.Z.
set -euo pipefail

version=${KUBE_VERSION:-v1.35.4}
cache=${TAGDRIFT_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/tagdrift}
dir="$cache/kubebuilder/$version"
mkdir -p "$dir"
# Two test runs starting at once would build into the same files: the second waits for
# the first and then finds the binaries.
exec 9>"$dir/.lock"
flock 9

log() { echo "kube-binaries: $*" >&2; }

if [ ! -x "$dir/etcd" ]; then
	etcd_bin=$(command -v etcd || true)
	[ -n "$etcd_bin" ] || { log "etcd not found: apt-get install etcd-server"; exit 1; }
	ln -sf "$etcd_bin" "$dir/etcd"
fi

missing=()
for b in kube-apiserver kube-controller-manager kubelet; do
	[ -x "$dir/$b" ] || missing+=("$b")
done
if [ ${#missing[@]} -eq 0 ]; then
	echo "$dir"
	exit 0
fi

staging_version="v0.${version#v1.}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
export GOFLAGS=-mod=mod GOWORK=off
go mod init tagdrift.local/kubebinaries >/dev/null 2>&1
gomod=$(go mod download -json "k8s.io/kubernetes@$version" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
[ -n "$gomod" ] || { log "cannot download k8s.io/kubernetes@$version"; exit 1; }
go mod edit -require="k8s.io/kubernetes@$version"
for m in $(awk '$2 == "=>" && $3 ~ /^\.\/staging\// {print $1}' "$gomod"); do
	go mod edit -replace="$m=$m@$staging_version"
done
pkgs=()
for b in "${missing[@]}"; do
	pkgs+=("k8s.io/kubernetes/cmd/$b")
done
go get "${pkgs[@]/%/@$version}" >/dev/null 2>&1 || go get "${pkgs[@]/%/@$version}"
# One go build for all of them, so that the packages they share compile once and every
# core is used. go build -v names each package as it compiles it: counted against the
# whole dependency set, that is the progress printed every minute.
total=$(CGO_ENABLED=0 go list -deps "${pkgs[@]}" | wc -l)
cores=$(nproc)
log "building ${missing[*]} $version: about $((16 / cores + 1)) to $((36 / cores)) minutes on $cores cores the first time (17.5 min measured on 2 from an empty Go cache, other work running), cached afterwards (skip it: KUBEBUILDER_ASSETS=<a directory with etcd, kube-apiserver, kube-controller-manager, kubelet>)"
mkdir -p "$work/out"
start=$SECONDS
CGO_ENABLED=0 go build -v -trimpath -ldflags="-s -X k8s.io/component-base/version.gitVersion=$version" \
	-o "$work/out/" "${pkgs[@]}" 2>"$work/build.log" &
build=$!
while kill -0 "$build" 2>/dev/null; do
	for _ in $(seq 60); do
		kill -0 "$build" 2>/dev/null || break
		sleep 1
	done
	kill -0 "$build" 2>/dev/null || break
	done_pkgs=$(grep -vc '^#' "$work/build.log" || true)
	log "$(((SECONDS - start) / 60)) min: $done_pkgs of about $total packages compiled"
done
if ! wait "$build"; then
	cat "$work/build.log" >&2
	log "build failed"
	exit 1
fi
for b in "${missing[@]}"; do
	mv "$work/out/$b" "$dir/$b"
done
log "built ${missing[*]} in $(((SECONDS - start) / 60)) min $(((SECONDS - start) % 60)) s"
echo "$dir"
