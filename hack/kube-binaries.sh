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
for b in "${missing[@]}"; do
	log "building $b $version (several minutes on 2 cores, cached afterwards)"
	go get "k8s.io/kubernetes/cmd/$b@$version" >/dev/null 2>&1 || go get "k8s.io/kubernetes/cmd/$b@$version"
	# The version is stamped so that the binaries (the kubelet above all) report it
	# rather than v0.0.0-master.
	CGO_ENABLED=0 go build -trimpath -ldflags="-s -X k8s.io/component-base/version.gitVersion=$version" -o "$dir/$b.tmp" "k8s.io/kubernetes/cmd/$b"
	mv "$dir/$b.tmp" "$dir/$b"
done
echo "$dir"
