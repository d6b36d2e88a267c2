# A worker node for the control plane of scripts/lib/control-plane.sh: containerd and runc (Debian's), the CNI bridge
# (Debian's containernetworking-plugins), kubelet, kube-proxy and kube-scheduler (scripts/k8s-peers), a pause image
# built here, and a read-only registry for the pods. Source it after control-plane.sh (with APISERVER_BIND=$NODE_GW).
#
# Network: the pods live in network namespaces on the bridge portcullis0 (10.88.0.0/24, gateway 10.88.0.1 on the
# host side), with no masquerading: nothing is routed beyond this machine. What the pods reach on the host
# (the API server, the registry, the DB mirror) listens on the gateway address; everything else stays on 127.0.0.1.
# The host uses cgroup v1 (hybrid): the kubelet runs with failCgroupV1: false and the cgroupfs driver; containerd
# with restrict_oom_score_adj (root here lacks CAP_SYS_RESOURCE).
#
# Defines: NODE (node name), NODE_REG (the pods' registry, $NODE_GW:5077; its config $work/registry-node.yml and
# process NODE_REG_PID, for tests that stop it), node_ready, node_stop (call it before
# control-plane.sh's cleanup: containers outlive a killed containerd, and its mounts must go first), the pause image
# $NODE_REG/pause:e2e. Needs: K8S, work, pids, port, k (control-plane.sh), FX (fixtures dir), REG (host registry).

NODE=e2e-node
NODE_REG=$NODE_GW:5077
CNI_BIN=/usr/lib/cni

# The pods' registry: Debian's docker-registry again, on the gateway address, read-only over the fixtures' storage.
cat >"$work/registry-node.yml" <<YML
version: 0.1
http: {addr: "$NODE_REG"}
storage: {filesystem: {rootdirectory: $FX/registry}, maintenance: {readonly: {enabled: true}}}
YML
docker-registry serve "$work/registry-node.yml" >"$work/registry-node.log" 2>&1 &
NODE_REG_PID=$!
pids+=($NODE_REG_PID)

# The sandbox image: a static pause() loop, pushed to the host registry (the pods' registry serves the same storage).
PAUSE_DIR=$HOME/.cache/portcullis/e2e/pause
if ! skopeo inspect --tls-verify=false "docker://$REG/pause:e2e" >/dev/null 2>&1; then
  rm -rf "$PAUSE_DIR"; mkdir -p "$PAUSE_DIR"
  printf '#include <unistd.h>\n#include <signal.h>\nstatic void bye(int s){(void)s;_exit(0);}\nint main(void){signal(SIGTERM,bye);signal(SIGINT,bye);for(;;)pause();}\n' \
    >"$PAUSE_DIR/pause.c"
  gcc -static -Os -o "$PAUSE_DIR/pause" "$PAUSE_DIR/pause.c"
  umoci init --layout "$PAUSE_DIR/oci" && umoci new --image "$PAUSE_DIR/oci:e2e"
  umoci unpack --image "$PAUSE_DIR/oci:e2e" "$PAUSE_DIR/bundle" >/dev/null
  cp "$PAUSE_DIR/pause" "$PAUSE_DIR/bundle/rootfs/pause"
  umoci repack --image "$PAUSE_DIR/oci:e2e" "$PAUSE_DIR/bundle"
  umoci config --image "$PAUSE_DIR/oci:e2e" --os linux --architecture amd64 --config.entrypoint /pause --config.user 65535:65535
  skopeo copy -q --dest-tls-verify=false "oci:$PAUSE_DIR/oci:e2e" "docker://$REG/pause:e2e"
fi

# containerd, with its own root, state and socket under $work; plain HTTP for the pods' registry.
mkdir -p "$work/cni" "$work/certs.d/$NODE_REG" "$work/containerd"
cat >"$work/certs.d/$NODE_REG/hosts.toml" <<TOML
server = "http://$NODE_REG"
[host."http://$NODE_REG"]
  capabilities = ["pull", "resolve"]
TOML
cat >"$work/cni/10-e2e.conflist" <<JSON
{"cniVersion": "0.4.0", "name": "e2e", "plugins": [
  {"type": "bridge", "bridge": "portcullis0", "isGateway": true, "ipMasq": false, "hairpinMode": true,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.88.0.0/24", "gateway": "$NODE_GW"}]],
            "routes": [{"dst": "0.0.0.0/0"}], "dataDir": "$work/cni-ipam"}},
  {"type": "portmap", "capabilities": {"portMappings": true}},
  {"type": "loopback"}]}
JSON
cat >"$work/containerd.toml" <<TOML
version = 2
root = "$work/containerd/root"
state = "$work/containerd/state"
[grpc]
  address = "$work/containerd.sock"
[ttrpc]
  address = "$work/containerd.ttrpc.sock"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$NODE_REG/pause:e2e"
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$CNI_BIN"
    conf_dir = "$work/cni"
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "$work/certs.d"
TOML
containerd --config "$work/containerd.toml" >"$work/containerd.log" 2>&1 &
CONTAINERD_PID=$!
pids+=($CONTAINERD_PID)
for _ in $(seq 50); do [[ -S $work/containerd.sock ]] && break; sleep 0.2; done

# kube-scheduler, kubelet and kube-proxy (leaving the host's sysctls as they are), all talking to the API server as admin; their ports on 127.0.0.1, but
# the kubelet's.
"$K8S/kube-scheduler" --kubeconfig="$work/kubeconfig" --leader-elect=false --bind-address=127.0.0.1 \
  --secure-port="$(port)" >"$work/scheduler.log" 2>&1 &
pids+=($!)
cat >"$work/kubelet.yaml" <<YML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# On the node's address, where the API server reaches it for logs and exec; that path carries no client
# certificate here, so the kubelet takes anonymous requests (from this machine only: the bridge is local).
address: $NODE_GW
port: $(port)
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $(port)
authentication: {anonymous: {enabled: true}, webhook: {enabled: false}}
authorization: {mode: AlwaysAllow}
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
containerRuntimeEndpoint: unix://$work/containerd.sock
# This disk may be fuller than the defaults allow; the test must not be evicted for it.
evictionHard: {memory.available: "50Mi", nodefs.available: "300Mi", imagefs.available: "300Mi", nodefs.inodesFree: "1%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
# Secrets mounted in pods (the webhook's certificate) follow their object within seconds.
syncFrequency: 10s
resolvConf: ""
YML
"$K8S/kubelet" --kubeconfig="$work/kubeconfig" --config="$work/kubelet.yaml" --hostname-override="$NODE" \
  --node-ip="$NODE_GW" --root-dir="$work/kubelet" --cert-dir="$work/kubelet-pki" >"$work/kubelet.log" 2>&1 &
KUBELET_PID=$!
pids+=($KUBELET_PID)
"$K8S/kube-proxy" --kubeconfig="$work/kubeconfig" --hostname-override="$NODE" --proxy-mode=iptables \
  --cluster-cidr=10.88.0.0/24 --bind-address=127.0.0.1 --healthz-bind-address="127.0.0.1:$(port)" \
  --iptables-localhost-nodeports=false --conntrack-max-per-core=0 --conntrack-tcp-timeout-established=0 \
  --conntrack-tcp-timeout-close-wait=0 \
  --metrics-bind-address="127.0.0.1:$(port)" >"$work/kube-proxy.log" 2>&1 &
KUBE_PROXY_PID=$!
pids+=($KUBE_PROXY_PID)

node_ready() { # waits up to 2 minutes for the node's Ready condition
  for _ in $(seq 120); do
    [[ $(k get node "$NODE" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null) == True ]] && return 0
    sleep 1
  done
  return 1
}

node_stop() {
  # The kubelet and kube-proxy first (they would restore what is removed next), then every container, then
  # containerd and its shims.
  stop "$KUBELET_PID" "$KUBE_PROXY_PID"
  local ctr=(ctr --address "$work/containerd.sock" -n k8s.io) t
  for t in $("${ctr[@]}" tasks ls -q 2>/dev/null); do "${ctr[@]}" tasks kill -s SIGKILL "$t" >/dev/null 2>&1; done
  # Whatever is left in the pods' cgroups (a container whose shim is gone).
  find /sys/fs/cgroup/pids/kubepods -name cgroup.procs -exec cat {} + 2>/dev/null | xargs -r kill -9 2>/dev/null
  stop "$CONTAINERD_PID"
  pkill -9 -f "containerd-shim-runc-v2 .*-address $work/containerd.sock" 2>/dev/null
  # Snapshots, sandboxes' /dev/shm and network namespaces are mounted under $work: unmounted before it is removed.
  mount | awk -v w="$work" 'index($3, w) == 1 {print $3}' | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
  "$K8S/kube-proxy" --cleanup >/dev/null 2>&1 || true
  # The kubelet's own chains (KUBE-FIREWALL, the canaries): the host's firewall is left as it was found.
  local cmd table rule chain
  for cmd in iptables ip6tables; do
    for table in filter nat mangle; do
      "$cmd" -t "$table" -S 2>/dev/null | grep -E '^-A [A-Z]+ .*-j KUBE-' | sed 's/^-A/-D/' |
        while read -r rule; do eval "$cmd -t $table $rule" 2>/dev/null; done
      for chain in $("$cmd" -t "$table" -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^KUBE-/ {print $2}'); do
        "$cmd" -t "$table" -F "$chain" 2>/dev/null
      done
      for chain in $("$cmd" -t "$table" -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^KUBE-/ {print $2}'); do
        "$cmd" -t "$table" -X "$chain" 2>/dev/null
      done
    done
  done
  local ns
  for ns in $(ip netns list 2>/dev/null | awk '/^cni-/ {print $1}'); do ip netns delete "$ns" 2>/dev/null; done
  true
}
