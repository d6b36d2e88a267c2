# A local Kubernetes control plane for scripts: etcd, kube-apiserver (RBAC, token auth, service-account tokens) and
# kube-controller-manager from scripts/k8s-peers, all on 127.0.0.1 ports picked at random, torn down on exit.
# Source it after `cd` to the repository root with K8S set to the peers' bin directory. With a node (scripts/lib/
# node.sh) set APISERVER_BIND to the pods' gateway address first: the API server then listens there (pods reach it
# through the `kubernetes` Service) and keeps that Service's endpoints. It defines:
#   work (temp dir), pids, stop PIDS..., port, k (kubectl as admin), API (apiserver port), KUBECONFIG (exported),
#   register_webhook.
work=$(mktemp -d)
pids=()
# Stops processes newest first (the controller manager and kube-apiserver before etcd: an apiserver whose etcd
# is gone can hang in its graceful shutdown), gives them 10 s, then kills them. Never a bare `wait`.
alive() { local s; s=$(ps -o stat= -p "$1" 2>/dev/null) && [[ $s != Z* ]]; }
stop() {
  local p i
  for p in "$@"; do kill "$p" 2>/dev/null; done
  for _ in $(seq 50); do
    i=0; for p in "$@"; do alive "$p" && i=1; done
    [[ $i == 0 ]] && return; sleep 0.2
  done
  # Reaped here, so the shell does not report the kill on exit (a killed child is gone: this wait returns at once).
  for p in "$@"; do kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
}
cleanup() {
  local rev=() i
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do rev+=("${pids[i]}"); done
  ((${#rev[@]})) && stop "${rev[@]}"
  rm -rf "$work"
}
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

ETCD_C=$(port); ETCD_P=$(port); API=$(port)
APISERVER_BIND=${APISERVER_BIND:-127.0.0.1}
# Without a node nothing may reach the `kubernetes` Service, so it gets no endpoints.
# With a node, logs and exec reach its kubelet at the node's InternalIP (there is no DNS for its name).
reconciler=none; node_flags=()
[[ $APISERVER_BIND != 127.0.0.1 ]] && { reconciler=lease; node_flags=(--kubelet-preferred-address-types=InternalIP); }
"$K8S/etcd" --data-dir "$work/etcd" --listen-client-urls "http://127.0.0.1:$ETCD_C" \
  --advertise-client-urls "http://127.0.0.1:$ETCD_C" --listen-peer-urls "http://127.0.0.1:$ETCD_P" \
  --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_P" --initial-cluster "default=http://127.0.0.1:$ETCD_P" \
  >"$work/etcd.log" 2>&1 &
pids+=($!)
openssl genrsa -out "$work/sa.key" 2048 2>/dev/null && openssl rsa -in "$work/sa.key" -pubout -out "$work/sa.pub" 2>/dev/null
TOKEN=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
echo "$TOKEN,admin,admin,system:masters" >"$work/tokens.csv"
start_apiserver() { # (again after a stop: same port, certificates and etcd) sets API_PID
  "$K8S/kube-apiserver" --etcd-servers="http://127.0.0.1:$ETCD_C" --bind-address="$APISERVER_BIND" --secure-port="$API" \
    --advertise-address="$APISERVER_BIND" --endpoint-reconciler-type=$reconciler --cert-dir="$work/apicerts" \
    --token-auth-file="$work/tokens.csv" --authorization-mode=RBAC --service-cluster-ip-range=10.96.0.0/16 \
    --service-account-issuer=https://kubernetes.default.svc --service-account-key-file="$work/sa.pub" \
    --service-account-signing-key-file="$work/sa.key" "${node_flags[@]}" >>"$work/apiserver.log" 2>&1 &
  API_PID=$!
  pids+=($API_PID)
}
apiserver_ready() { # waits up to 2 minutes
  for _ in $(seq 120); do k get --raw /readyz >/dev/null 2>&1 && return 0; sleep 1; done
  return 1
}
start_apiserver
cat >"$work/kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters: [{name: e2e, cluster: {server: "https://$APISERVER_BIND:$API", insecure-skip-tls-verify: true}}]
users: [{name: admin, user: {token: "$TOKEN"}}]
contexts: [{name: e2e, context: {cluster: e2e, user: admin}}]
current-context: e2e
KC
export KUBECONFIG=$work/kubeconfig
k() { "$K8S/kubectl" --request-timeout=30s "$@"; }
apiserver_ready || { echo "kube-apiserver did not become ready: $(tail -5 "$work/apiserver.log")"; exit 1; }
"$K8S/kube-controller-manager" --kubeconfig="$work/kubeconfig" --leader-elect=false \
  --service-account-private-key-file="$work/sa.key" --use-service-account-credentials=false \
  --root-ca-file="$work/apicerts/apiserver.crt" \
  --controllers='*' --bind-address=127.0.0.1 --secure-port=0 >"$work/kcm.log" 2>&1 &
pids+=($!)

register_webhook() { # failurePolicy hook-port cabundle-file: the ValidatingWebhookConfiguration, by URL
  cat <<YML | k apply -f - >/dev/null
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {name: portcullis}
webhooks:
- name: validate.portcullis.dev
  admissionReviewVersions: [v1]
  sideEffects: None
  failurePolicy: $1
  timeoutSeconds: 10
  namespaceSelector:
    matchExpressions:
    - {key: kubernetes.io/metadata.name, operator: NotIn, values: [kube-system, portcullis]}
    - {key: portcullis.dev/ignore, operator: NotIn, values: ["true"]}
  clientConfig:
    url: https://127.0.0.1:$2/validate
    caBundle: $(cat "$3")
  rules:
  - {apiGroups: [""], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [pods]}
  - {apiGroups: [apps], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [deployments, replicasets, statefulsets, daemonsets]}
  - {apiGroups: [batch], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [jobs, cronjobs]}
YML
}
