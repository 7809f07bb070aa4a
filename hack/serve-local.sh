#!/usr/bin/env bash
# Runs tagdrift serve on this machine with everything it needs: PostgreSQL (installed
# and started when missing, as hack/test-deps.sh does), a database named tagdrift, and
# an encryption key kept in .tagdrift/key and an admin API token in
# .tagdrift/admin-token (each made once). Extra arguments go to serve;
# $KUBECONFIG's current context, when set, is registered at start.
#
#   make serve                     # or: hack/serve-local.sh --allow-cluster-network 10.0.0.0/8
set -euo pipefail
cd "$(dirname "$0")/.."

eval "$(SKIP_KUBE=1 hack/test-deps.sh)"
admin=$TAGDRIFT_TEST_DATABASE_URL
psql "$admin" -Atc "select 1 from pg_database where datname = 'tagdrift'" | grep -q 1 ||
	psql "$admin" -qc 'CREATE DATABASE tagdrift'
export TAGDRIFT_DATABASE_URL=${TAGDRIFT_DATABASE_URL:-$(echo "$admin" | sed 's#/postgres?#/tagdrift?#')}

mkdir -p .tagdrift
if [ -z "${TAGDRIFT_ENCRYPTION_KEY:-}" ] && [ -z "${TAGDRIFT_ENCRYPTION_KEY_FILE:-}" ]; then
	if [ ! -s .tagdrift/key ]; then
		(umask 077 && head -c 32 /dev/urandom | base64 > .tagdrift/key)
		echo "serve-local: made an encryption key in .tagdrift/key; keep it: stored credentials need it" >&2
	fi
	export TAGDRIFT_ENCRYPTION_KEY_FILE=.tagdrift/key
fi
# An admin API token for this machine's user, made once (TAGDRIFT_ADMIN_TOKEN wins).
if [ -z "${TAGDRIFT_ADMIN_TOKEN:-}" ]; then
	if [ ! -s .tagdrift/admin-token ]; then
		(umask 077 && head -c 24 /dev/urandom | base64 | tr '+/' '-_' > .tagdrift/admin-token)
	fi
	TAGDRIFT_ADMIN_TOKEN=$(cat .tagdrift/admin-token)
	export TAGDRIFT_ADMIN_TOKEN
	echo "serve-local: admin API token in .tagdrift/admin-token:" \
		'curl -H "Authorization: Bearer $(cat .tagdrift/admin-token)" localhost:8080/api/v1/clusters' >&2
fi
args=()
if [ -n "${KUBECONFIG:-}" ]; then
	args+=(--cluster-kubeconfig "$KUBECONFIG")
fi
exec go run ./cmd/tagdrift serve "${args[@]}" "$@"
