#!/usr/bin/env bash
# Makes sure what the tests need is on this machine, installing what is missing, and
# prints shell exports for it: etcd (Debian's etcd-server), the Kubernetes binaries
# (built into a cache by hack/kube-binaries.sh, or taken from $KUBEBUILDER_ASSETS), and
# a running PostgreSQL (Debian's postgresql, or $TAGDRIFT_TEST_DATABASE_URL); for the
# real node of the end-to-end tests, containerd and runc (Debian's) and the distribution
# registry (hack/registry-binary.sh); with BROWSER=1 only, for the browser tests,
# Chromium (Debian's) and axe-core (npm, into a cache); with RECEIVERS=1 only, for the
# notify tests, Alertmanager and Mailpit (built into a cache by hack/receiver-binaries.sh).
#
#   eval "$(hack/test-deps.sh)"                # make demo: no browser
#   eval "$(BROWSER=1 RECEIVERS=1 hack/test-deps.sh)"   # make test: the browser tests' and receivers too
#   eval "$(SKIP_KUBE=1 hack/test-deps.sh)"    # make serve, make test-unit: PostgreSQL only
#
# apt's output goes to a log file ($cache/apt.log); one line says what it installed.
# CHROMIUM names the Chromium the browser tests run (Debian's /usr/bin/chromium), so that
# hack's test can ask for it where one is installed.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { echo "test-deps: $*" >&2; }

cache=${TAGDRIFT_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/tagdrift}
apt_log="$cache/apt.log"
chromium=${CHROMIUM:-/usr/bin/chromium}
kube_version=${KUBE_VERSION:-v1.35.4}
registry_version=${REGISTRY_VERSION:-v3.1.2}

apt_install() {
	if [ "$(id -u)" != 0 ]; then
		log "missing $*: install it (apt-get install $*) or run as root"
		exit 1
	fi
	mkdir -p "$cache"
	log "installing $* with apt-get (its output: $apt_log)"
	export DEBIAN_FRONTEND=noninteractive
	local start=$SECONDS from
	echo "== $(date -u +%FT%TZ) apt-get install $*" >>"$apt_log"
	from=$(wc -l <"$apt_log")
	if ! apt-get update -qq >>"$apt_log" 2>&1 ||
		! apt-get install -y -qq -o Dpkg::Use-Pty=0 "$@" >>"$apt_log" 2>&1; then
		tail -n 20 "$apt_log" >&2
		log "apt-get install $* failed: the whole output is in $apt_log"
		exit 1
	fi
	# dpkg says "Setting up <package> (<version>) ..." once per package it installs.
	local n
	n=$(tail -n +"$((from + 1))" "$apt_log" | grep -c '^Setting up ' || true)
	log "installed $* ($n packages with what they need, $((SECONDS - start)) s)"
}

# The first run installs and builds what is missing: say so, with how long it takes on
# this machine's cores, before starting. Parts of one whole cold run of make demo on a
# shared 2-core machine (2026-12-06, empty Go caches, load 3-10; 26 min 7 s in all):
# the Kubernetes binaries 17 min 28 s, the registry 2 min 11 s, tagdrift and
# tagdrift-demo 5 min 32 s (counted as 6 below); apt a minute or two; the demo itself
# under a minute.
first_run() {
	local cores parts=() minutes=0
	cores=$(nproc)
	if [ -z "${SKIP_KUBE:-}" ]; then
		if [ -z "${KUBEBUILDER_ASSETS:-}" ]; then
			local b
			for b in kube-apiserver kube-controller-manager kubelet; do
				if [ ! -x "$cache/kubebuilder/$kube_version/$b" ]; then
					parts+=("the Kubernetes binaries")
					minutes=$((minutes + 32 / cores))
					break
				fi
			done
		fi
		if [ -n "${RECEIVERS:-}" ] && [ ! -x "$cache/bin/alertmanager" ]; then
		parts+=("Alertmanager and Mailpit")
		minutes=$((minutes + 10 / cores))
	fi
	if [ ! -x "$cache/registry/$registry_version/registry" ]; then
			parts+=("the registry")
			minutes=$((minutes + 10 / cores))
		fi
	fi
	local missing=()
	if [ -z "${SKIP_KUBE:-}" ]; then
		[ -n "${KUBEBUILDER_ASSETS:-}" ] || command -v etcd >/dev/null || missing+=(etcd-server)
		command -v containerd >/dev/null || missing+=(containerd)
		command -v runc >/dev/null || missing+=(runc)
		command -v kubectl >/dev/null || missing+=(kubernetes-client)
	fi
	if [ -n "${BROWSER:-}" ]; then
		[ -x "$chromium" ] || missing+=(chromium)
		command -v npm >/dev/null || missing+=(npm)
	fi
	if [ -z "${TAGDRIFT_TEST_DATABASE_URL:-}" ]; then
		command -v pg_lsclusters >/dev/null || missing+=(postgresql)
	fi
	if [ ${#missing[@]} -gt 0 ]; then
		parts+=("apt packages (${missing[*]})")
		minutes=$((minutes + 2))
	fi
	[ ${#parts[@]} -gt 0 ] || return 0
	# A machine that builds the Kubernetes binaries or the registry has likely never
	# built tagdrift either.
	case "${parts[*]}" in *"the Kubernetes binaries"* | *"the registry"*) minutes=$((minutes + 12 / cores)) ;; esac
	local what
	what=$(printf '%s, ' "${parts[@]}")
	log "first run: building or installing ${what%, }: about $((minutes + 1)) minutes on $cores cores; later runs take seconds (all cached)"
}
first_run

if [ -n "${SKIP_KUBE:-}" ]; then
	: # only PostgreSQL is wanted (hack/serve-local.sh)
elif [ -n "${KUBEBUILDER_ASSETS:-}" ]; then
	for b in etcd kube-apiserver kube-controller-manager; do
		[ -x "$KUBEBUILDER_ASSETS/$b" ] || { log "KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS has no $b"; exit 1; }
	done
	assets=$KUBEBUILDER_ASSETS
else
	command -v etcd >/dev/null || apt_install etcd-server
	assets=$(KUBE_VERSION=$kube_version hack/kube-binaries.sh)
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

# The browser tests (BROWSER=1, make test only): Debian's Chromium, and axe-core from the
# npm registry into a cache (loaded from disk into the pages, never from a CDN).
if [ -n "${BROWSER:-}" ]; then
	[ -x "$chromium" ] || apt_install chromium
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

# The notification receivers (RECEIVERS=1: make test, make test-unit): Alertmanager and
# Mailpit, built from their Go modules. (An assignment, so that a failed build stops this
# script under set -e.)
if [ -n "${RECEIVERS:-}" ]; then
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
