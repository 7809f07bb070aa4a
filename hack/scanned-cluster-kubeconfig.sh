#!/usr/bin/env bash
# Prints a kubeconfig for tagdrift's read-only ServiceAccount in one cluster, with the
# long-lived token of deploy/scanned-cluster/token.yaml, ready to register with tagdrift
# (the UI, the API, or serve --cluster-kubeconfig). Apply the manifests first:
#
#   kubectl apply -k deploy/scanned-cluster/
#   hack/scanned-cluster-kubeconfig.sh [--context CONTEXT] [--name NAME] [--server URL] > NAME.kubeconfig
#
# --context picks the kubectl context to read from (default: the current one); --name
# names the cluster in the output (default: that context's name); --server gives the API
# server's address as tagdrift reaches it (default: the one kubectl uses). It reads only
# the token Secret, and waits up to $TAGDRIFT_TOKEN_WAIT seconds (30) for the token
# controller to fill it.
set -euo pipefail

ctx= name= server=
while [ $# -gt 0 ]; do
	case $1 in
	--context) ctx=$2; shift 2 ;;
	--name) name=$2; shift 2 ;;
	--server) server=$2; shift 2 ;;
	-h | --help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "scanned-cluster-kubeconfig: unknown argument $1" >&2; exit 2 ;;
	esac
done

kc=(kubectl)
[ -z "$ctx" ] || kc+=(--context "$ctx")
namespace=tagdrift
secret=tagdrift-scanner-token

ctx=${ctx:-$("${kc[@]}" config current-context)}
name=${name:-$ctx}
cluster=$("${kc[@]}" config view --raw -o jsonpath="{.contexts[?(@.name==\"$ctx\")].context.cluster}")
[ -n "$cluster" ] || { echo "scanned-cluster-kubeconfig: no context $ctx" >&2; exit 1; }
server=${server:-$("${kc[@]}" config view --raw -o jsonpath="{.clusters[?(@.name==\"$cluster\")].cluster.server}")}
ca=$("${kc[@]}" config view --raw -o jsonpath="{.clusters[?(@.name==\"$cluster\")].cluster.certificate-authority-data}")

token=
for _ in $(seq "${TAGDRIFT_TOKEN_WAIT:-30}"); do
	token=$("${kc[@]}" -n "$namespace" get secret "$secret" -o jsonpath='{.data.token}')
	[ -z "$token" ] || break
	sleep 1
done
[ -n "$token" ] || { echo "scanned-cluster-kubeconfig: secret $namespace/$secret has no token: apply deploy/scanned-cluster/ first" >&2; exit 1; }
if [ -z "$ca" ]; then
	# The kubeconfig names a CA file rather than holding it: take the CA the token
	# controller put next to the token.
	ca=$("${kc[@]}" -n "$namespace" get secret "$secret" -o jsonpath='{.data.ca\.crt}')
fi
[ -n "$ca" ] || { echo "scanned-cluster-kubeconfig: no CA certificate for $server" >&2; exit 1; }

cat <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
  - name: $name
    cluster:
      server: $server
      certificate-authority-data: $ca
users:
  - name: tagdrift-scanner@$name
    user:
      token: $(printf %s "$token" | base64 -d)
contexts:
  - name: $name
    context:
      cluster: $name
      user: tagdrift-scanner@$name
current-context: $name
KUBECONFIG
