#!/usr/bin/env bash
# A real Kubernetes test cluster on loopback: etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler built from source by kube-build.sh, plus kwok simulating the nodes (and the kubelet's
# work on them: Pods are scheduled by the real scheduler and kwok marks them Running and Ready).
#
#   scripts/services/kube-cluster.sh start       build if needed, start (or reuse) the cluster, print the kubeconfig path
#   scripts/services/kube-cluster.sh stop        stop every process of the cluster, delete its data
#   scripts/services/kube-cluster.sh status      exit 0 only when the cluster started here answers /readyz
#   scripts/services/kube-cluster.sh kubeconfig  print the kubeconfig path (nothing is started)
#
# Every start is a fresh cluster (etcd data in a new temporary folder); a second `start` while it runs
# reuses it at once. Certificates (a CA, the apiserver serving cert for 127.0.0.1/localhost, the
# service-account key pair, client certs for admin, controller-manager and scheduler, and a front-proxy
# CA and client cert for the aggregation layer) are made once
# with openssl under $MLOPS_CACHE_DIR/kube/pki; the admin kubeconfig (certificates embedded) is
# $MLOPS_CACHE_DIR/kube/cluster-6443/kubeconfig, beside the pid files and logs/ of that cluster.
#
# Fake nodes: kwok-node-0 .. kwok-node-(N-1) (label type=kwok, 32 CPUs, 256Gi, 110 pods each). A Pod is
# Running and Ready almost at once, except a Pod labelled mlops.dev/never-ready: "true" or with an image
# whose reference contains "never-ready", which
# becomes Running with its containers started but never Ready (like a failing readiness probe), so a
# rollout of such a version never becomes available. kwok runs no containers: a Pod annotated
# mlops.dev/stand-in-ip: IP gets that pod IP, so a test can run the process the container would run
# (a model server on IP:containerPort) and the API server's service proxy reaches it through the
# Service's endpoints. The Gateway API standard-channel CRDs
# (gateway.networking.k8s.io: Gateway, HTTPRoute, ...) are installed at start.
#
# Environment: MLOPS_CACHE_DIR (default /var/cache/mlops), MLOPS_KUBE_APISERVER_PORT (6443),
# MLOPS_KUBE_ETCD_PORT (2379; the etcd peer port is the next one), MLOPS_KUBE_CONTROLLER_MANAGER_PORT
# (10257), MLOPS_KUBE_SCHEDULER_PORT (10259), MLOPS_KUBE_NODES (2), MLOPS_KUBE_START_TIMEOUT (seconds
# for each wait, default 120). Idempotent and safe to call from several processes at once (flock).

# From tools/versions.env, sourced by common.sh:
KUBERNETES_VERSION='' ETCD_VERSION='' KWOK_VERSION='' GATEWAY_API_VERSION=''
# shellcheck source=scripts/services/common.sh
source "$(dirname "$0")/common.sh"   # set -euo pipefail, me, here, repo, CACHE_DIR, helpers

KUBE=$CACHE_DIR/kube
PKI=$KUBE/pki
API_PORT=${MLOPS_KUBE_APISERVER_PORT:-6443}
# One folder per apiserver port, so a second cluster (other MLOPS_KUBE_*_PORT values) can run beside.
RUN=$KUBE/cluster-$API_PORT
LOGS=$RUN/logs
KUBECONFIG_FILE=$RUN/kubeconfig
ETCD_PORT=${MLOPS_KUBE_ETCD_PORT:-2379}
KCM_PORT=${MLOPS_KUBE_CONTROLLER_MANAGER_PORT:-10257}
SCHED_PORT=${MLOPS_KUBE_SCHEDULER_PORT:-10259}
NODES=${MLOPS_KUBE_NODES:-2}
TIMEOUT=${MLOPS_KUBE_START_TIMEOUT:-120}
for v in API_PORT ETCD_PORT KCM_PORT SCHED_PORT NODES TIMEOUT; do
  case "${!v}" in ''|*[!0-9]*) die "$v must be a number, got '${!v}'" ;; esac
done
ETCD_PEER_PORT=$((ETCD_PORT + 1))
SERVER=https://127.0.0.1:$API_PORT
SERVICE_CIDR=10.96.0.0/16
POD_CIDR=10.244.0.0/16
ISSUER=https://kubernetes.default.svc.cluster.local
# Start order; stop goes the other way.
COMPONENTS="etcd kube-apiserver kube-controller-manager kube-scheduler kwok"

pidfile() { echo "$RUN/$1.pid"; }
pid_of() { pid_in "$(pidfile "$1")"; }
running() { alive "$(pid_of "$1")"; }
log_of() { echo "$LOGS/$1.log"; }
log_tail() { tail_log "$(log_of "$1")" 25; }

# curl against our apiserver as the admin (client certificate), never through a proxy.
kcurl() { curl -sS --noproxy '*' -m 10 --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" "$@"; }
api_code() { kcurl -o /dev/null -w '%{http_code}' "$SERVER$1" 2>/dev/null || true; }
ready() { [ -f "$PKI/admin.crt" ] && [ "$(api_code /readyz)" = 200 ]; }
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# ---------------------------------------------------------------------------------------------- pki
sign() {  # NAME SUBJECT EXTENSIONS [CA]: a key and a certificate signed by CA (default: ca)
  local name=$1 subject=$2 ext=$3 ca=${4:-ca}
  openssl genrsa -out "$PKI/$name.key" 2048 2>/dev/null
  openssl req -new -key "$PKI/$name.key" -subj "$subject" -out "$PKI/$name.csr" 2>/dev/null
  printf '%s\n' "$ext" "subjectKeyIdentifier=hash" "authorityKeyIdentifier=keyid,issuer" >"$PKI/$name.ext"
  openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/$ca.crt" -CAkey "$PKI/$ca.key" -CAcreateserial \
    -days 3650 -sha256 -extfile "$PKI/$name.ext" -out "$PKI/$name.crt" 2>/dev/null
  rm -f "$PKI/$name.csr" "$PKI/$name.ext"
}

client_kubeconfig() {  # FILE USER CERT KEY: a kubeconfig with everything embedded
  local b64='base64 -w0'
  cat >"$1.tmp" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: mlops-kube
  cluster:
    server: $SERVER
    certificate-authority-data: $($b64 <"$PKI/ca.crt")
users:
- name: $2
  user:
    client-certificate-data: $($b64 <"$3")
    client-key-data: $($b64 <"$4")
contexts:
- name: mlops-kube
  context:
    cluster: mlops-kube
    user: $2
current-context: mlops-kube
EOF
  chmod 600 "$1.tmp" && mv "$1.tmp" "$1"
}

make_pki() {
  local names="ca apiserver sa admin controller-manager scheduler front-proxy-ca front-proxy-client" n missing=
  for n in $names; do [ -s "$PKI/$n.key" ] || missing=1; done
  if [ -n "$missing" ]; then
    say "generating certificates and keys in $PKI (once)"
    rm -rf "$PKI" && mkdir -p "$PKI" && chmod 700 "$PKI"
    local ca
    for ca in ca front-proxy-ca; do
      openssl req -x509 -new -nodes -newkey rsa:2048 -keyout "$PKI/$ca.key" -out "$PKI/$ca.crt" -days 3650 -sha256 \
        -subj "/CN=mlops-kube-$ca" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
        -addext "subjectKeyIdentifier=hash" 2>/dev/null
    done
    sign apiserver "/CN=kube-apiserver" "$(printf '%s\n' \
      "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" "extendedKeyUsage=serverAuth" \
      "subjectAltName=IP:127.0.0.1,DNS:localhost,IP:10.96.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local")"
    local client="basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth"
    sign admin "/O=system:masters/CN=kubernetes-admin" "$client"
    sign controller-manager "/CN=system:kube-controller-manager" "$client"
    sign scheduler "/CN=system:kube-scheduler" "$client"
    # The aggregation layer's identity (requestheader authentication), as kubeadm sets it up.
    sign front-proxy-client "/CN=front-proxy-client" "$client" front-proxy-ca
    openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null
    openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
    chmod 600 "$PKI"/*.key
  fi
  # Rewritten on each start: they carry the apiserver port.
  client_kubeconfig "$KUBECONFIG_FILE" kubernetes-admin "$PKI/admin.crt" "$PKI/admin.key"
  client_kubeconfig "$RUN/controller-manager.kubeconfig" system:kube-controller-manager "$PKI/controller-manager.crt" "$PKI/controller-manager.key"
  client_kubeconfig "$RUN/scheduler.kubeconfig" system:kube-scheduler "$PKI/scheduler.crt" "$PKI/scheduler.key"
}

# ------------------------------------------------------------------------------------------ kwok
# kwok needs Stage definitions for everything it simulates: the "fast" node and pod stages shipped in
# sigs.k8s.io/kwok (kustomize/stage/{node/fast,node/heartbeat-with-lease,pod/fast}) with one change:
# Pods labelled mlops.dev/never-ready=true, and Pods with an image whose reference contains
# "never-ready" (an image that cannot start), get the stage pod-never-ready instead of pod-ready; and
# pod-ready gives a Pod annotated mlops.dev/stand-in-ip that IP instead of one from the node's range.
# The YAML is static, in kwok/: joined into one file, a "---" line between two of them. `start`
# compares a running cluster's kwok.yaml with this to see whether its stages are the current ones.
KWOK_FILES=("$here/kwok/config.yaml" "$here/kwok/node-stages.yaml" "$here/kwok/pod-stages.yaml")
kwok_config() {
  echo "# Written by scripts/services/kube-cluster.sh (rewritten on every start)."
  awk 'FNR == 1 && NR > 1 { print "---" } { print }' "${KWOK_FILES[@]}"
}
write_kwok_config() { kwok_config >"$RUN/kwok.yaml"; }

node_json() {  # NAME
  cat <<EOF
{"apiVersion": "v1", "kind": "Node",
 "metadata": {"name": "$1",
   "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
   "labels": {"type": "kwok", "kubernetes.io/hostname": "$1", "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"}},
 "status": {"allocatable": {"cpu": "32", "memory": "256Gi", "pods": "110"},
            "capacity": {"cpu": "32", "memory": "256Gi", "pods": "110"}}}
EOF
}

# ------------------------------------------------------------------------------------- processes
launch() {  # NAME COMMAND...: start in its own session, log to LOGS/NAME.log
  local name=$1 log
  shift
  log=$(log_of "$name")
  [ ! -f "$log" ] || mv -f "$log" "$log.1"
  echo "# $(date -u +%FT%TZ) $*" >"$log"
  setsid "$@" </dev/null >>"$log" 2>&1 7>&- 8>&- 9>&- &
  echo $! >"$(pidfile "$name")"
}

wait_for() {  # WHAT COMPONENT COMMAND...: poll until COMMAND succeeds
  local what=$1 component=$2 deadline=$((SECONDS + TIMEOUT))
  shift 2
  until "$@"; do
    if [ -n "$component" ] && ! running "$component"; then
      log_tail "$component"; fail "$component exited while waiting for $what (log: $(log_of "$component"))"
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      [ -z "$component" ] || log_tail "$component"
      fail "timed out after ${TIMEOUT}s waiting for $what"
    fi
    sleep 0.2
  done
}

# A failed start stops what it started (logs stay) and exits with the message.
fail() { stop_processes >/dev/null 2>&1 || true; die "$*"; }

stop_processes() {
  local c
  for c in $(echo "$COMPONENTS" | tr ' ' '\n' | tac); do
    stop_pidfile "$(pidfile "$c")" "$c" 20 "$c did not stop in 20s: SIGKILL"
  done
  local data
  data=$(cat "$RUN/data-dir" 2>/dev/null || true)
  case "$data" in /tmp/mlops-kube.*) rm -rf "$data" ;; esac
  rm -f "$RUN/data-dir"
}

all_running() { local c; for c in $COMPONENTS; do running "$c" || return 1; done; }

# ----------------------------------------------------------------------------------------- checks
etcd_healthy() { [ "$(curl -s --noproxy '*' -m 3 "http://127.0.0.1:$ETCD_PORT/health" 2>/dev/null | jq -r .health 2>/dev/null)" = true ]; }
healthz() { [ "$(curl -sk --noproxy '*' -m 3 -o /dev/null -w '%{http_code}' "https://127.0.0.1:$1/healthz" 2>/dev/null)" = 200 ]; }
default_sa() { [ "$(api_code /api/v1/namespaces/default/serviceaccounts/default)" = 200 ]; }
nodes_ready() {
  local n
  n=$(kcurl "$SERVER/api/v1/nodes?labelSelector=type%3Dkwok" 2>/dev/null \
      | jq '[.items[] | select(any(.status.conditions[]?; .type == "Ready" and .status == "True"))] | length' 2>/dev/null) || return 1
  [ "${n:-0}" -ge "$NODES" ]
}
crds_established() {
  local n
  n=$(kcurl "$SERVER/apis/apiextensions.k8s.io/v1/customresourcedefinitions" 2>/dev/null \
      | jq '[.items[] | select(.spec.group == "gateway.networking.k8s.io")
             | select(any(.status.conditions[]?; .type == "Established" and .status == "True"))] | length' 2>/dev/null) || return 1
  [ "${n:-0}" -ge "$CRD_COUNT" ]
}

post() {  # URL-PATH CONTENT-TYPE FILE|- : create an object, fail unless 201 (or 409: already there)
  local code out
  out=$(mktemp)
  code=$(kcurl -o "$out" -w '%{http_code}' -X POST -H "Content-Type: $2" --data-binary "@$3" "$SERVER$1" 2>&1 || true)
  if [ "$code" != 201 ] && [ "$code" != 409 ]; then
    local body; body=$(head -c 2000 "$out"); rm -f "$out"
    fail "POST $1 failed (HTTP $code): $body"
  fi
  rm -f "$out"
}

install_gateway_crds() {  # DIR: every YAML document of the standard channel
  local f doc kind path tmp
  tmp=$(mktemp -d)
  CRD_COUNT=0
  for f in "$1"/*.yaml; do
    # Split multi-document files on '---' lines.
    awk -v dir="$tmp" -v base="$(basename "$f" .yaml)" '
      BEGIN { n = 0; out = sprintf("%s/%s.%d.yaml", dir, base, n) }
      /^---[[:space:]]*$/ { n++; out = sprintf("%s/%s.%d.yaml", dir, base, n); next }
      { print > out }' "$f"
  done
  for doc in "$tmp"/*.yaml; do
    grep -q '^kind:' "$doc" || continue
    kind=$(sed -n 's/^kind:[[:space:]]*\([A-Za-z]*\).*/\1/p' "$doc" | head -n1)
    case "$kind" in
      CustomResourceDefinition) path=/apis/apiextensions.k8s.io/v1/customresourcedefinitions; CRD_COUNT=$((CRD_COUNT + 1)) ;;
      ValidatingAdmissionPolicy) path=/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies ;;
      ValidatingAdmissionPolicyBinding) path=/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings ;;
      *) rm -rf "$tmp"; fail "unexpected kind '$kind' in the Gateway API CRDs ($doc)" ;;
    esac
    post "$path" application/yaml "$doc"
  done
  rm -rf "$tmp"
}

# ------------------------------------------------------------------------------------------ start
start_cluster() {
  local t0=$SECONDS bin build
  bin=$(bash "$here/kube-build.sh") || die "kube-build.sh failed (see above)"
  build=$(dirname "$bin")
  if [ -f "$KUBECONFIG_FILE" ] && ready && all_running; then
    if cmp -s <(kwok_config) "$RUN/kwok.yaml"; then
      say "reusing the running cluster on $SERVER"
      return 0
    fi
    say "the running cluster's kwok stages are not this script's: starting a fresh cluster"
  fi
  if [ -f "$RUN/data-dir" ] || ls "$RUN"/*.pid >/dev/null 2>&1; then
    say "stopping what is left of the previous cluster"
    stop_processes
  fi
  local p
  for p in "$API_PORT" "$ETCD_PORT" "$ETCD_PEER_PORT" "$KCM_PORT" "$SCHED_PORT"; do
    port_busy "$p" && die "127.0.0.1:$p is in use by another process; set MLOPS_KUBE_*_PORT (see the script header)"
  done
  make_pki
  write_kwok_config
  local data
  data=$(mktemp -d /tmp/mlops-kube.XXXXXX)
  echo "$data" >"$RUN/data-dir"
  say "starting Kubernetes $KUBERNETES_VERSION (etcd $ETCD_VERSION, kwok $KWOK_VERSION) on $SERVER; data $data, logs $LOGS"

  launch etcd "$bin/etcd" --name mlops-kube --data-dir "$data/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "mlops-kube=http://127.0.0.1:$ETCD_PEER_PORT" --listen-metrics-urls "" \
    --unsafe-no-fsync --quota-backend-bytes 2147483648 --log-level warn
  wait_for "etcd /health" etcd etcd_healthy

  launch kube-apiserver "$bin/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
    --bind-address 127.0.0.1 --secure-port "$API_PORT" --advertise-address 127.0.0.1 \
    --endpoint-reconciler-type none \
    --cert-dir "$data/apiserver" \
    --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
    --client-ca-file "$PKI/ca.crt" \
    --requestheader-client-ca-file "$PKI/front-proxy-ca.crt" --requestheader-allowed-names front-proxy-client \
    --requestheader-username-headers X-Remote-User --requestheader-group-headers X-Remote-Group \
    --requestheader-extra-headers-prefix X-Remote-Extra- \
    --proxy-client-cert-file "$PKI/front-proxy-client.crt" --proxy-client-key-file "$PKI/front-proxy-client.key" \
    --enable-aggregator-routing=true \
    --authorization-mode Node,RBAC \
    --service-account-issuer "$ISSUER" \
    --service-account-key-file "$PKI/sa.pub" --service-account-signing-key-file "$PKI/sa.key" \
    --service-cluster-ip-range "$SERVICE_CIDR" \
    --allow-privileged=true --profiling=false --v=1
  wait_for "kube-apiserver /readyz" kube-apiserver ready

  launch kube-controller-manager "$bin/kube-controller-manager" \
    --kubeconfig "$RUN/controller-manager.kubeconfig" \
    --authentication-kubeconfig "$RUN/controller-manager.kubeconfig" \
    --authorization-kubeconfig "$RUN/controller-manager.kubeconfig" \
    --bind-address 127.0.0.1 --secure-port "$KCM_PORT" --leader-elect=false \
    --service-account-private-key-file "$PKI/sa.key" --root-ca-file "$PKI/ca.crt" \
    --use-service-account-credentials=true \
    --cluster-signing-cert-file "$PKI/ca.crt" --cluster-signing-key-file "$PKI/ca.key" \
    --service-cluster-ip-range "$SERVICE_CIDR" \
    --controllers '*' --profiling=false --v=1
  launch kube-scheduler "$bin/kube-scheduler" \
    --kubeconfig "$RUN/scheduler.kubeconfig" \
    --authentication-kubeconfig "$RUN/scheduler.kubeconfig" \
    --authorization-kubeconfig "$RUN/scheduler.kubeconfig" \
    --bind-address 127.0.0.1 --secure-port "$SCHED_PORT" --leader-elect=false --profiling=false --v=1
  launch kwok "$bin/kwok" --kubeconfig "$KUBECONFIG_FILE" --config "$RUN/kwok.yaml"

  install_gateway_crds "$build/crds/gateway-api"
  local i tmp
  tmp=$(mktemp)
  for i in $(seq 0 $((NODES - 1))); do
    node_json "kwok-node-$i" >"$tmp"
    post /api/v1/nodes application/json "$tmp"
  done
  rm -f "$tmp"

  wait_for "kube-controller-manager /healthz" kube-controller-manager healthz "$KCM_PORT"
  wait_for "kube-scheduler /healthz" kube-scheduler healthz "$SCHED_PORT"
  wait_for "the Gateway API CRDs to be Established" "" crds_established
  wait_for "$NODES kwok nodes to be Ready" kwok nodes_ready
  wait_for "the default ServiceAccount (made by kube-controller-manager)" kube-controller-manager default_sa
  all_running || fail "a component exited during start-up (logs: $LOGS)"
  say "cluster ready in $((SECONDS - t0))s: $SERVER, $NODES nodes, Gateway API $GATEWAY_API_VERSION CRDs"
}

start() {
  mkdir -p "$KUBE" "$RUN" "$LOGS"
  command -v curl >/dev/null || apt_install curl >&2
  command -v jq >/dev/null || apt_install jq >&2
  command -v openssl >/dev/null || apt_install openssl >&2
  (
    flock -w 3600 8 || die "timed out waiting for $RUN.lock"
    start_cluster >&2
  ) 8>"$RUN.lock"
  echo "$KUBECONFIG_FILE"
}

stop() {
  mkdir -p "$KUBE" "$RUN"
  (
    flock -w 300 8 || die "timed out waiting for $RUN.lock"
    if ! ls "$RUN"/*.pid >/dev/null 2>&1 && [ ! -f "$RUN/data-dir" ]; then say "not running"; exit 0; fi
    stop_processes
    say "stopped"
  ) 8>"$RUN.lock"
}

status() {
  if command -v curl >/dev/null && [ -f "$KUBECONFIG_FILE" ] && ready && all_running; then
    local c
    for c in $COMPONENTS; do echo "$c: pid $(pid_of "$c")"; done
    echo "running: $SERVER (kubeconfig $KUBECONFIG_FILE; Kubernetes $KUBERNETES_VERSION, etcd $ETCD_VERSION, kwok $KWOK_VERSION)"
  else
    echo "not running: $SERVER"
    return 1
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  kubeconfig) echo "$KUBECONFIG_FILE" ;;
  *) echo "usage: $0 start|stop|status|kubeconfig" >&2; exit 2 ;;
esac
