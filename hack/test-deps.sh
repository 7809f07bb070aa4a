#!/usr/bin/env bash
# Makes sure what the tests need is on this machine, installing what is missing, and
# prints shell exports for it: etcd (Debian's etcd-server), the Kubernetes binaries
# (built into a cache by hack/kube-binaries.sh, or taken from $KUBEBUILDER_ASSETS), and
# a running PostgreSQL (Debian's postgresql, or $TAGDRIFT_TEST_DATABASE_URL); for the
# real node of the end-to-end tests, containerd and runc (Debian's) and the distribution
# registry (hack/registry-binary.sh); for the browser tests, Chromium (Debian's) and
# axe-core (npm, into a cache); for the notify tests, Alertmanager and Mailpit (built into
# a cache by hack/receiver-binaries.sh; SKIP_RECEIVERS=1 leaves them out).
#
#   eval "$(hack/test-deps.sh)"
set -euo pipefail
cd "$(dirname "$0")/.."

log() { echo "test-deps: $*" >&2; }

apt_install() {
	if [ "$(id -u)" != 0 ]; then
		log "missing $*: install it (apt-get install $*) or run as root"
		exit 1
	fi
	log "installing $* with apt-get"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >&2
	apt-get install -y -qq "$@" >&2
}

if [ -n "${SKIP_KUBE:-}" ]; then
	: # only PostgreSQL is wanted (hack/serve-local.sh)
elif [ -n "${KUBEBUILDER_ASSETS:-}" ]; then
	for b in etcd kube-apiserver kube-controller-manager; do
		[ -x "$KUBEBUILDER_ASSETS/$b" ] || { log "KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS has no $b"; exit 1; }
	done
	assets=$KUBEBUILDER_ASSETS
else
	command -v etcd >/dev/null || apt_install etcd-server
	assets=$(hack/kube-binaries.sh)
fi
if [ -z "${SKIP_KUBE:-}" ]; then
	[ -x "$assets/kubelet" ] || log "warning: $assets has no kubelet: the real-node tests cannot run"
	# The real node: containerd (with ctr and its runc shim) and runc, and the registry it
	# pulls from.
	need=()
	command -v containerd >/dev/null || need+=(containerd)
	command -v runc >/dev/null || need+=(runc)
	# kubectl runs hack/scanned-cluster-kubeconfig.sh in deploy/'s test.
	command -v kubectl >/dev/null || need+=(kubernetes-client)
	if [ ${#need[@]} -gt 0 ]; then
		if [ "$(id -u)" = 0 ]; then
			apt_install "${need[@]}"
		else
			# The real node needs root anyway: without it its tests skip (fail under CI).
			log "missing ${need[*]}: the real-node tests will not run (apt-get install ${need[*]} as root)"
		fi
	fi
	hack/registry-binary.sh >/dev/null
	echo "export KUBEBUILDER_ASSETS='$assets'"
fi

# The browser tests: Debian's Chromium, and axe-core from the npm registry into a cache
# (loaded from disk into the pages, never from a CDN).
if [ -z "${SKIP_BROWSER:-}" ]; then
	[ -x /usr/bin/chromium ] || apt_install chromium
	command -v npm >/dev/null || apt_install npm
	axe_dir=${XDG_CACHE_HOME:-$HOME/.cache}/tagdrift/axe
	axe_version=4.14.1
	if [ ! -f "$axe_dir/node_modules/axe-core/axe.min.js" ] ||
		! grep -q "\"version\": \"$axe_version\"" "$axe_dir/node_modules/axe-core/package.json"; then
		log "installing axe-core $axe_version with npm into $axe_dir"
		mkdir -p "$axe_dir"
		npm install --silent --no-audit --no-fund --prefix "$axe_dir" "axe-core@$axe_version" >&2
	fi
	echo "export TAGDRIFT_AXE_JS='$axe_dir/node_modules/axe-core/axe.min.js'"
fi

# The notification receivers (Alertmanager, Mailpit), built from their Go modules.
# (An assignment, so that a failed build stops this script under set -e.)
if [ -z "${SKIP_RECEIVERS:-}" ]; then
	receivers=$(hack/receiver-binaries.sh)
	echo "export TAGDRIFT_RECEIVERS_DIR='$receivers'"
fi

# PostgreSQL: the URL given, or the local server, installed and started when needed.
if [ -n "${TAGDRIFT_TEST_DATABASE_URL:-}" ]; then
	db=$TAGDRIFT_TEST_DATABASE_URL
else
	command -v pg_lsclusters >/dev/null || apt_install postgresql
	command -v pg_dump >/dev/null || apt_install postgresql-client
	pg_lsclusters --no-header | while read -r version name _ status _; do
		if [ "$status" != online ]; then
			log "starting PostgreSQL $version/$name"
			pg_ctlcluster --skip-systemctl-redirect "$version" "$name" start >&2
		fi
	done
	db="postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	if ! psql "$db" -Atc 'select 1' >/dev/null 2>&1; then
		# A fresh install trusts no one on TCP: use the socket as a superuser role named
		# after this user (peer authentication).
		me=$(id -un)
		su postgres -c "psql -Atc \"select 1 from pg_roles where rolname = '$me'\"" 2>/dev/null | grep -q 1 ||
			su postgres -c "createuser --superuser $me" >&2
		db="postgres:///postgres?host=/var/run/postgresql&sslmode=disable"
		psql "$db" -Atc 'select 1' >/dev/null || { log "cannot connect to PostgreSQL at $db"; exit 1; }
	fi
fi
echo "export TAGDRIFT_TEST_DATABASE_URL='$db'"
