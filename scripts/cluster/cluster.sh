#!/usr/bin/env bash
# Why: the project's manifests (k8s/) need a real Kubernetes to be tried against,
# and this machine can pull nothing: no kind images, no release binaries. So this
# script runs a single-node cluster from the binaries scripts/cluster/build.sh
# compiled from pinned sources, with Debian's containerd/runc/CNI plugins, as
# plain processes (no systemd): containerd, etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler, kubelet, kube-proxy (nftables), and
# CoreDNS as a hostNetwork pod, plus local PersistentVolumes for k8s/base/pvcs.yaml.
#
#   cluster.sh up       start what is not running (idempotent; restarts only what died)
#   cluster.sh status   processes, apiserver health, node Ready; non-zero if unhealthy
#   cluster.sh down     stop everything (operators.sh down first) and put the host
#                       back as `up` found it
#   cluster.sh down --purge   also delete the certificates, etcd data and volumes
#
# Where things live, and why there: the cluster owns machine-wide things (ports
# 6443/2379/10250, a bridge, cgroups, sysctls), so there is one per machine, not
# one per checkout. Its state is in /var/lib/training-patterns-cluster (root's,
# kept across down/up: certificates, kubeconfigs, etcd data, the volumes' data,
# logs) and its runtime files in /run/training-patterns-cluster (sockets, pids,
# containerd's state; gone after `down`). Unix socket paths stay short there,
# whatever the checkout's path. The kubelet's and containerd's roots are under
# the state dir too and are deleted by `down`: pods are re-created at `up` from
# what etcd kept, as after a node reboot.
#
# Network: everything listens on 127.0.0.1 or on our own bridge's address
# (tpcluster0, 10.244.0.1, which is also the node IP), never on the host's
# interfaces; pods get 10.244.0.0/24 on that bridge, Services 10.96.0.0/16.
# CoreDNS answers for cluster.local only and forwards nothing off the machine, and
# the apiserver reaches the kubelet by IP (never through the host's resolver).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PKI=$STATE/pki
KCFG=$STATE/kubeconfig
CONF=$STATE/config
VOLUMES=$STATE/volumes
BASELINE=$STATE/host-baseline        # what `up` found on the host; `down` restores it
KUBELET_ROOT=$STATE/kubelet
CTRD_ROOT=$STATE/containerd
CNI_CONF_DIR=$STATE/cni/net.d
CNI_IPAM_DIR=$STATE/cni/ipam

BRIDGE=tpcluster0
POD_CIDR=10.244.0.0/24
CLUSTER_CIDR=10.244.0.0/16
SERVICE_CIDR=10.96.0.0/16
APISERVER_SVC_IP=10.96.0.1
DNS_IP=10.96.0.10
API=https://$NODE_IP:6443

# Debian 12 packages, pinned (apt-cache policy, 12-07). containerd 1.6 and runc 1.1
# run the pods; the CNI plugins wire them to the bridge; conntrack is what
# kube-proxy clears UDP flows with; nft is what kube-proxy's nftables mode runs.
PACKAGES=(
  containerd=1.6.20~ds1-1+deb12u3
  runc=1.1.5+ds1-1+deb12u1
  containernetworking-plugins=1.1.1+ds1-3+b5
  iptables=1.8.9-2
  nftables=1.0.6-2+deb12u2
  conntrack=1:1.4.7-1+b2
  socat=1.7.4.4-2
  ethtool=1:6.1-1
)

# Sysctls the kubelet (vm.overcommit_memory, kernel.panic, kernel.panic_on_oops),
# the CNI bridge plugin (forwarding) or kube-proxy may change; `down` puts back
# the values `up` found.
SYSCTLS=(
  vm.overcommit_memory kernel.panic kernel.panic_on_oops
  net.ipv4.ip_forward net.ipv6.conf.all.forwarding net.ipv6.conf.default.forwarding
  net.ipv4.conf.all.route_localnet
  net.bridge.bridge-nf-call-iptables net.bridge.bridge-nf-call-ip6tables
  net.netfilter.nf_conntrack_max net.netfilter.nf_conntrack_tcp_timeout_established
  net.netfilter.nf_conntrack_tcp_timeout_close_wait
  kernel.keys.root_maxkeys kernel.keys.root_maxbytes
)
# Host paths that containerd, the kubelet and the CNI plugins create outside our
# own dirs (hard-coded upstream: shim sockets, CNI results cache, pod logs, the
# device-plugin socket); `down` removes each one that did not exist before `up`.
HOST_PATHS=(/run/containerd /var/lib/cni /var/log/pods /var/log/containers /run/netns
  /var/lib/kubelet)
# The kubelet's cgroupfs driver puts every pod under /kubepods in each hierarchy.
CGROUP_NAMES=(kubepods)

# Components, in start order; bin_of gives each one's binary.
COMPONENTS=(containerd etcd kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy)
bin_of() { [[ $1 == containerd ]] && echo /usr/bin/containerd || echo "$BIN_DIR/$1"; }

# ---------------------------------------------------------------- processes

pid_of() { # name -> pid, if the pid file's process is still that binary
  local f=$RUN/pids/$1.pid pid argv0
  [[ -f $f ]] || return 1
  pid=$(<"$f")
  [[ -r /proc/$pid/cmdline ]] || return 1
  IFS= read -r -d '' argv0 <"/proc/$pid/cmdline" || true
  [[ ${argv0:-} == "$(bin_of "$1")" ]] || return 1
  echo "$pid"
}

start() { # name args... (started in its own session, output to its log)
  local name=$1; shift
  mkdir -p "$RUN/pids" "$LOGS"
  echo "=== $(date -Is) start" >>"$LOGS/$name.log"
  setsid "$(bin_of "$name")" "$@" >>"$LOGS/$name.log" 2>&1 </dev/null &
  echo $! >"$RUN/pids/$name.pid"
  STARTED+=("$name")
}

alive() { # pid: running (a zombie waiting for its parent to reap it has exited)
  local st
  st=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 1
  [[ -n $st && $st != Z && $st != X ]]
}

stop() { # names...: SIGTERM to all of them, then SIGKILL to any alive after 10 s
  local name pid i t0 pids=() names=()
  t0=$(now)
  for name in "$@"; do
    if pid=$(pid_of "$name"); then
      kill -TERM "$pid" 2>/dev/null || true
      pids+=("$pid"); names+=("$name")
    fi
    rm -f "$RUN/pids/$name.pid"
  done
  ((${#pids[@]})) || return 0
  for ((i = 0; i < 100; i++)); do
    for pid in "${pids[@]}"; do
      if alive "$pid"; then sleep 0.1; continue 2; fi
    done
    break
  done
  for pid in "${pids[@]}"; do
    if alive "$pid"; then
      log "pid $pid did not stop in 10 s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
  log "stopped ${names[*]} in $(since "$t0")"
}

# ------------------------------------------------------------ prerequisites

ensure_prereqs() {
  [[ $(id -u) == 0 ]] || die "must run as root (it starts containerd and the kubelet)" 2
  local b
  for b in kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy etcd; do
    [[ -x $BIN_DIR/$b ]] || die "$BIN_DIR/$b is missing: run scripts/cluster/build.sh (make cluster does)" 2
  done
  [[ -f $IMAGE_DIR/pause.tar && -f $IMAGE_DIR/coredns.tar ]] ||
    die "images missing in $IMAGE_DIR: run scripts/cluster/build.sh" 2
  install_pinned apt.log "${PACKAGES[@]}"
  for b in openssl curl findmnt ip nft; do
    command -v "$b" >/dev/null || die "$b is missing (apt-get install openssl curl util-linux iproute2 nftables)" 2
  done
  [[ -x /usr/lib/cni/bridge ]] || die "/usr/lib/cni/bridge missing (containernetworking-plugins)" 2
}

# Record the host as found, once per up/down cycle.
record_baseline() {
  [[ -d $BASELINE ]] && return 0
  mkdir -p "$BASELINE.tmp"
  local k p
  for k in "${SYSCTLS[@]}"; do
    if sysctl -n "$k" >/dev/null 2>&1; then echo "$k=$(sysctl -n "$k")"; fi
  done >"$BASELINE.tmp/sysctl"
  for p in "${HOST_PATHS[@]}"; do if [[ -e $p ]]; then echo "$p"; fi; done >"$BASELINE.tmp/paths"
  mv "$BASELINE.tmp" "$BASELINE"
}

# ------------------------------------------------------------- certificates

# ca NAME CN: a self-signed CA, once.
ca() {
  [[ -f $PKI/$1.crt ]] && return 0
  openssl ecparam -name prime256v1 -genkey -noout -out "$PKI/$1.key" 2>/dev/null
  openssl req -x509 -new -key "$PKI/$1.key" -subj "/CN=$2" \
    -days 3650 -sha256 -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" -out "$PKI/$1.crt"
}

# cert NAME CN [O] [SAN-list] [CA]: a key and a certificate signed by CA (ca), once.
cert() {
  local name=$1 cn=$2 o=${3:-} san=${4:-} signer=${5:-ca} subj ext
  [[ -f $PKI/$name.crt ]] && return 0
  subj="/CN=$cn${o:+/O=$o}"
  ext=$PKI/$name.ext
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=${san:+serverAuth,}clientAuth"
    if [[ -n $san ]]; then echo "subjectAltName=$san"; fi
  } >"$ext"
  openssl ecparam -name prime256v1 -genkey -noout -out "$PKI/$name.key" 2>/dev/null
  openssl req -new -key "$PKI/$name.key" -subj "$subj" -out "$PKI/$name.csr"
  openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/$signer.crt" -CAkey "$PKI/$signer.key" \
    -CAcreateserial -days 3650 -sha256 -extfile "$ext" -out "$PKI/$name.crt" 2>/dev/null
  rm -f "$PKI/$name.csr" "$ext"
}

make_pki() {
  [[ -f $PKI/.done-v2 ]] && return 0
  local t0; t0=$(now)
  mkdir -p "$PKI" && chmod 700 "$PKI"
  ca ca training-patterns-cluster-ca
  # The apiserver's aggregation layer (API extensions, as kubeadm sets it up):
  # its own CA, so no ordinary client certificate can pose as the proxy.
  ca front-proxy-ca training-patterns-cluster-front-proxy-ca
  local api_san="IP:$NODE_IP,IP:127.0.0.1,IP:$APISERVER_SVC_IP,DNS:localhost,DNS:$NODE_NAME"
  api_san+=",DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc"
  api_san+=",DNS:kubernetes.default.svc.cluster.local"
  cert apiserver kube-apiserver "" "$api_san"
  cert apiserver-kubelet-client kube-apiserver-kubelet-client system:masters
  cert apiserver-etcd-client kube-apiserver-etcd-client
  cert etcd-server etcd "" "IP:127.0.0.1,DNS:localhost"
  cert admin kubernetes-admin system:masters
  cert controller-manager system:kube-controller-manager
  cert scheduler system:kube-scheduler
  cert kube-proxy system:kube-proxy
  cert kubelet "system:node:$NODE_NAME" system:nodes
  cert kubelet-serving "system:node:$NODE_NAME" system:nodes "IP:$NODE_IP,DNS:$NODE_NAME"
  cert front-proxy-client front-proxy-client "" "" front-proxy-ca
  # Service-account tokens are signed with this pair (RS256).
  [[ -f $PKI/sa.key ]] || openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null
  openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
  chmod 600 "$PKI"/*.key
  rm -f "$PKI/.done"
  touch "$PKI/.done-v2"
  log "certificates written to $PKI in $(since "$t0")"
}

kubeconfig() { # name, certificate name
  local f=$KCFG/$1.kubeconfig
  [[ -f $f ]] && return 0
  mkdir -p "$KCFG"
  cat >"$f" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: training-patterns
  cluster:
    server: $API
    certificate-authority-data: $(base64 -w0 "$PKI/ca.crt")
users:
- name: $1
  user:
    client-certificate-data: $(base64 -w0 "$PKI/$2.crt")
    client-key-data: $(base64 -w0 "$PKI/$2.key")
contexts:
- name: training-patterns
  context: {cluster: training-patterns, user: $1}
current-context: training-patterns
EOF
  chmod 600 "$f"
}

# ------------------------------------------------------------------ configs

# put FILE: write stdin to FILE only if it differs. kube-proxy exits when its
# config file is touched, so an unchanged config must stay untouched.
put() {
  local new; new=$(cat)
  [[ -f $1 && $(<"$1") == "$new" ]] && return 0
  printf '%s\n' "$new" >"$1.tmp" && mv -f "$1.tmp" "$1"
}

write_configs() {
  mkdir -p "$CONF" "$CNI_CONF_DIR" "$CNI_IPAM_DIR" "$VOLUMES"
  # containerd: its own root, state, socket and CNI dir, so it shares nothing
  # with a containerd the host may run. restrict_oom_score_adj: this VM lacks
  # CAP_SYS_RESOURCE, and a sandbox at oom_score_adj -998 fails to start.
  put "$CONF/containerd.toml" <<EOF
version = 2
root = "$CTRD_ROOT"
state = "$RUN/containerd"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]
[grpc]
  address = "$CTRD_SOCK"
[ttrpc]
  address = "$CTRD_SOCK.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "$CTRD_ROOT/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  restrict_oom_score_adj = true
  enable_selinux = false
  # Pods' network namespaces under our state dir, not in the host's /run/netns.
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        BinaryName = "/usr/sbin/runc"
        Root = "$RUN/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$CNI_CONF_DIR"
    max_conf_num = 1
EOF
  # CNI: our bridge (already up, with the node IP), host-local addresses kept in
  # our own dir. No ipMasq: pods need no way off the machine, and it would add
  # iptables rules to the host.
  put "$CNI_CONF_DIR/10-training-patterns.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "training-patterns",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$BRIDGE",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$CNI_IPAM_DIR",
        "ranges": [[{"subnet": "$POD_CIDR", "gateway": "$NODE_IP"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {"type": "loopback"}
  ]
}
EOF
  put "$CONF/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $PKI/ca.crt}
authorization: {mode: Webhook}
tlsCertFile: $PKI/kubelet-serving.crt
tlsPrivateKeyFile: $PKI/kubelet-serving.key
containerRuntimeEndpoint: unix://$CTRD_SOCK
clusterDomain: cluster.local
clusterDNS: [$DNS_IP]
podCIDR: $POD_CIDR
# This host mounts cgroup v1 and runs no systemd.
failCgroupV1: false
cgroupDriver: cgroupfs
# No CAP_SYS_RESOURCE here: nothing may lower oom_score_adj.
oomScoreAdj: 0
# Otherwise the kubelet writes KUBE-* chains (DROP rules too) into the host firewall.
makeIPTablesUtilChains: false
failSwapOn: false
serializeImagePulls: false
# The node shares the host's disk with what is built here (images, caches): evict
# on absolute amounts, not the defaults' 10-15 % of a large disk (which evicted
# Katib once our 4 GB image was imported), and never garbage-collect images:
# they are imported, nothing could pull them back.
evictionHard: {memory.available: 200Mi, nodefs.available: 2Gi, imagefs.available: 2Gi, nodefs.inodesFree: 5%}
imageGCHighThresholdPercent: 100
EOF
  put "$CONF/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: nftables
clientConnection: {kubeconfig: $KCFG/kube-proxy.kubeconfig}
hostnameOverride: $NODE_NAME
clusterCIDR: $CLUSTER_CIDR
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
# NodePorts only on our bridge's address, never on the host's interfaces.
nodePortAddresses: ["$NODE_IP/32"]
# Zeros leave the host's conntrack sysctls alone.
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
EOF
}

# ------------------------------------------------------------------ network

ensure_bridge() {
  if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    ip link add "$BRIDGE" type bridge
  fi
  local addrs; addrs=$(ip -4 -o addr show dev "$BRIDGE")
  [[ $addrs == *" $NODE_IP/"* ]] || ip addr add "$NODE_IP/${POD_CIDR#*/}" dev "$BRIDGE"
  ip link set "$BRIDGE" up
}

# ---------------------------------------------------------------- components

start_containerd() {
  mkdir -p "$RUN/containerd"
  start containerd --config "$CONF/containerd.toml"
  wait_for containerd 30 ctr --address "$CTRD_SOCK" version
}

import_images() { # each archive once per containerd root, and again when rebuilt
  local ref tar mark
  mkdir -p "$RUN/images"
  for ref in "$PAUSE_IMAGE|pause" "$COREDNS_IMAGE|coredns"; do
    tar=$IMAGE_DIR/${ref#*|}.tar
    mark=$RUN/images/${ref#*|}.imported
    ref=${ref%|*}
    [[ $mark -nt $tar ]] && continue
    ctr --address "$CTRD_SOCK" -n k8s.io images import "$tar" >/dev/null
    touch "$mark"
    log "imported image $ref"
  done
}

etcd_healthy() {
  [[ $(curl -sf --max-time 2 --cacert "$PKI/ca.crt" --cert "$PKI/apiserver-etcd-client.crt" \
    --key "$PKI/apiserver-etcd-client.key" https://127.0.0.1:2379/health) == *'"health":"true"'* ]]
}

start_etcd() {
  start etcd --name "$NODE_NAME" --data-dir "$STATE/etcd" \
    --listen-client-urls https://127.0.0.1:2379 --advertise-client-urls https://127.0.0.1:2379 \
    --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
    --initial-cluster "$NODE_NAME=http://127.0.0.1:2380" --listen-metrics-urls http://127.0.0.1:2381 \
    --cert-file "$PKI/etcd-server.crt" --key-file "$PKI/etcd-server.key" \
    --client-cert-auth --trusted-ca-file "$PKI/ca.crt"
  wait_for etcd 30 etcd_healthy
}

apiserver_ready() {
  [[ $(curl -sf --max-time 2 --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" \
    "$API/readyz") == ok ]]
}

start_apiserver() {
  start kube-apiserver --bind-address "$NODE_IP" --advertise-address "$NODE_IP" --secure-port 6443 \
    --etcd-servers https://127.0.0.1:2379 --etcd-cafile "$PKI/ca.crt" \
    --etcd-certfile "$PKI/apiserver-etcd-client.crt" --etcd-keyfile "$PKI/apiserver-etcd-client.key" \
    --client-ca-file "$PKI/ca.crt" \
    --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
    --kubelet-client-certificate "$PKI/apiserver-kubelet-client.crt" \
    --kubelet-client-key "$PKI/apiserver-kubelet-client.key" \
    --kubelet-certificate-authority "$PKI/ca.crt" \
    --kubelet-preferred-address-types InternalIP \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$PKI/sa.pub" --service-account-signing-key-file "$PKI/sa.key" \
    --service-cluster-ip-range "$SERVICE_CIDR" \
    --authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction \
    --allow-privileged=true --profiling=false \
    --requestheader-client-ca-file "$PKI/front-proxy-ca.crt" \
    --requestheader-allowed-names front-proxy-client \
    --requestheader-username-headers X-Remote-User --requestheader-group-headers X-Remote-Group \
    --requestheader-extra-headers-prefix X-Remote-Extra- \
    --proxy-client-cert-file "$PKI/front-proxy-client.crt" \
    --proxy-client-key-file "$PKI/front-proxy-client.key" \
    --enable-aggregator-routing=true
  wait_for kube-apiserver 60 apiserver_ready
}

start_controller_manager() {
  local k=$KCFG/controller-manager.kubeconfig
  start kube-controller-manager --kubeconfig "$k" --authentication-kubeconfig "$k" \
    --authorization-kubeconfig "$k" --bind-address 127.0.0.1 --leader-elect=false \
    --cluster-signing-cert-file "$PKI/ca.crt" --cluster-signing-key-file "$PKI/ca.key" \
    --root-ca-file "$PKI/ca.crt" --service-account-private-key-file "$PKI/sa.key" \
    --use-service-account-credentials=true \
    --allocate-node-cidrs=true --cluster-cidr "$CLUSTER_CIDR" --node-cidr-mask-size 24 \
    --service-cluster-ip-range "$SERVICE_CIDR" --profiling=false
}

start_scheduler() {
  local k=$KCFG/scheduler.kubeconfig
  start kube-scheduler --kubeconfig "$k" --authentication-kubeconfig "$k" \
    --authorization-kubeconfig "$k" --bind-address 127.0.0.1 --leader-elect=false --profiling=false
}

node_ready() { # [since, as 2006-01-02T15:04:05Z]: Ready, by a heartbeat at or after it
  local c
  c=$(kc get node "$NODE_NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status} {.status.conditions[?(@.type=="Ready")].lastHeartbeatTime}' 2>/dev/null) || return 1
  [[ ${c%% *} == True && ! ${c#* } < ${1:-} ]]
}

start_kubelet() {
  mkdir -p "$KUBELET_ROOT"
  start kubelet --config "$CONF/kubelet.yaml" --kubeconfig "$KCFG/kubelet.kubeconfig" \
    --root-dir "$KUBELET_ROOT" --hostname-override "$NODE_NAME" --node-ip "$NODE_IP"
}

start_kube_proxy() {
  start kube-proxy --config "$CONF/kube-proxy.yaml"
}

# ------------------------------------------------------------------- addons

addons() {
  local corefile
  corefile=$(cat <<EOF
.:53 {
    bind $NODE_IP
    errors
    health 127.0.0.1:18080
    ready $NODE_IP:8181
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }
    cache 30
    reload
}
EOF
)
  # CoreDNS as a hostNetwork pod on the node IP (it reads the API as its own
  # ServiceAccount); kube-dns's ClusterIP reaches it through kube-proxy.
  # Storage: k8s/base/pvcs.yaml asks for three ReadWriteMany claims and names no
  # class. On one node a directory is ReadWriteMany for every pod, so each claim
  # gets a local PersistentVolume pre-bound to it (claimRef: its name in the
  # training-patterns namespace) in a default StorageClass with no provisioner.
  # Local (not hostPath) volumes, so the kubelet applies a pod's fsGroup.
  kc apply -f - >/dev/null <<EOF
apiVersion: v1
kind: ServiceAccount
metadata: {name: coredns, namespace: kube-system}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "system:coredns"}
rules:
- apiGroups: [""]
  resources: [endpoints, services, pods, namespaces]
  verbs: [list, watch]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "system:coredns"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:coredns"}
subjects: [{kind: ServiceAccount, name: coredns, namespace: kube-system}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: coredns, namespace: kube-system}
data:
  Corefile: |
    ${corefile//$'\n'/$'\n'    }
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: coredns, namespace: kube-system, labels: {k8s-app: kube-dns}}
spec:
  replicas: 1
  strategy: {type: Recreate}
  selector: {matchLabels: {k8s-app: kube-dns}}
  template:
    metadata: {labels: {k8s-app: kube-dns}}
    spec:
      serviceAccountName: coredns
      hostNetwork: true
      dnsPolicy: Default
      priorityClassName: system-cluster-critical
      tolerations: [{operator: Exists}]
      containers:
      - name: coredns
        image: $COREDNS_IMAGE
        imagePullPolicy: Never
        args: [-conf, /etc/coredns/Corefile]
        volumeMounts: [{name: config, mountPath: /etc/coredns, readOnly: true}]
        readinessProbe:
          httpGet: {host: $NODE_IP, path: /ready, port: 8181}
          periodSeconds: 1
        resources:
          requests: {cpu: 50m, memory: 70Mi}
          limits: {memory: 170Mi}
        securityContext:
          allowPrivilegeEscalation: false
          readOnlyRootFilesystem: true
          capabilities: {drop: [ALL], add: [NET_BIND_SERVICE]}
      volumes:
      - name: config
        configMap: {name: coredns}
---
apiVersion: v1
kind: Service
metadata: {name: kube-dns, namespace: kube-system, labels: {k8s-app: kube-dns}}
spec:
  clusterIP: $DNS_IP
  selector: {k8s-app: kube-dns}
  ports:
  - {name: dns, port: 53, protocol: UDP}
  - {name: dns-tcp, port: 53, protocol: TCP}
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: training-patterns-local
  annotations: {storageclass.kubernetes.io/is-default-class: "true"}
provisioner: kubernetes.io/no-provisioner
volumeBindingMode: Immediate
reclaimPolicy: Retain
$(for v in training-patterns-pipeline-root:50Gi training-patterns-checkpoints:20Gi training-patterns-serving:10Gi; do
  mkdir -p "$VOLUMES/${v%:*}"
  cat <<PV
---
apiVersion: v1
kind: PersistentVolume
metadata: {name: ${v%:*}}
spec:
  capacity: {storage: ${v#*:}}
  accessModes: [ReadWriteMany]
  volumeMode: Filesystem
  persistentVolumeReclaimPolicy: Retain
  storageClassName: training-patterns-local
  claimRef: {namespace: training-patterns, name: ${v%:*}}
  local: {path: $VOLUMES/${v%:*}}
  nodeAffinity:
    required:
      nodeSelectorTerms:
      - matchExpressions: [{key: kubernetes.io/hostname, operator: In, values: [$NODE_NAME]}]
PV
done)
EOF
  # A volume whose claim was deleted is Released and would never bind again;
  # its data stays, and it is offered to a new claim of the same name.
  local pv
  for pv in $(kc get pv -o jsonpath='{range .items[?(@.status.phase=="Released")]}{.metadata.name}{" "}{end}'); do
    kc patch pv "$pv" --type json -p '[{"op":"remove","path":"/spec/claimRef/uid"},{"op":"remove","path":"/spec/claimRef/resourceVersion"}]' >/dev/null
    log "volume $pv released by its old claim: offered again"
  done
}

# ----------------------------------------------------------------------- up

cmd_up() {
  local t_up; t_up=$(now)
  STARTED=()
  ensure_prereqs
  mkdir -p "$STATE" "$RUN" && chmod 700 "$STATE"
  record_baseline
  make_pki
  local k
  for k in admin:admin controller-manager:controller-manager scheduler:scheduler \
    kubelet:kubelet kube-proxy:kube-proxy; do kubeconfig "${k%:*}" "${k#*:}"; done
  write_configs
  ensure_bridge

  local t0
  pid_of containerd >/dev/null || { t0=$(now); start_containerd; log "containerd up in $(since "$t0")"; }
  import_images
  pid_of etcd >/dev/null || { t0=$(now); start_etcd; log "etcd healthy in $(since "$t0")"; }
  pid_of kube-apiserver >/dev/null ||
    { t0=$(now); start_apiserver; log "kube-apiserver ready in $(since "$t0")"; }
  wait_for kube-apiserver 60 apiserver_ready
  pid_of kube-controller-manager >/dev/null || start_controller_manager
  pid_of kube-scheduler >/dev/null || start_scheduler
  if ! pid_of kubelet >/dev/null; then
    t0=$(now)
    # etcd keeps the node's last status: wait for a heartbeat from this kubelet.
    local since_k; since_k=$(date -u +%Y-%m-%dT%H:%M:%SZ)
    start_kubelet
    wait_for "node $NODE_NAME" 120 node_ready "$since_k"
    log "node Ready in $(since "$t0") after the kubelet started ($(since "$t_up") into up)"
  fi
  pid_of kube-proxy >/dev/null || start_kube_proxy
  t0=$(now)
  addons
  wait_for CoreDNS 120 kc -n kube-system wait --for=condition=Available deployment/coredns --timeout=2s
  log "CoreDNS and volumes ready in $(since "$t0")"
  if ((${#STARTED[@]})); then
    log "started ${STARTED[*]}"
    log "up in $(since "$t_up"): kubectl --kubeconfig $ADMIN_KUBECONFIG get nodes"
  else
    log "already up (nothing started): kubectl --kubeconfig $ADMIN_KUBECONFIG get nodes"
  fi
}

# ------------------------------------------------------------------- status

cmd_status() {
  local bad=0 c pid
  for c in "${COMPONENTS[@]}"; do
    if pid=$(pid_of "$c"); then
      printf '  %-24s running (pid %s, %s MiB RSS)\n' "$c" "$pid" \
        "$(awk '/^VmRSS/ { printf "%d", $2 / 1024 }' "/proc/$pid/status")"
    else
      printf '  %-24s not running\n' "$c"; bad=1
    fi
  done
  if [[ -f $PKI/admin.crt ]] && apiserver_ready; then
    echo "  apiserver                $API/readyz ok"
  else
    echo "  apiserver                not ready"; bad=1
  fi
  if [[ -f $ADMIN_KUBECONFIG ]] && node_ready ""; then
    echo "  node $NODE_NAME Ready"
  else
    echo "  node $NODE_NAME not Ready"; bad=1
  fi
  if ((bad)); then log "not healthy"; else
    log "healthy: kubectl --kubeconfig $ADMIN_KUBECONFIG get nodes"
  fi
  return "$bad"
}

# --------------------------------------------------------------------- down

# Kill every process still in a pod's cgroup (containers, and shims' children).
kill_pod_processes() {
  local f
  for f in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/kubepods; do
    [[ -d $f ]] || continue
    local pids; pids=$(find "$f" -name cgroup.procs -exec cat {} + 2>/dev/null || true)
    # shellcheck disable=SC2086  # one pid a word
    if [[ -n $pids ]]; then kill -KILL $pids 2>/dev/null || true; fi
  done
}

unmount_under() { # dirs...: every mount point at or below them, deepest first
  local m p
  for p in "$@"; do
    findmnt -rn -o TARGET | awk -v p="$p" '$0 == p || index($0, p "/") == 1' | sort -r |
      while read -r m; do
        umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || log "could not unmount $m"
      done
  done
}

cmd_down() {
  local purge=0 t0 c pid
  [[ ${1:-} == --purge ]] && purge=1
  [[ $(id -u) == 0 ]] || die "must run as root" 2
  t0=$(now)
  # The operators (and MariaDB) first, while the apiserver still answers.
  "$CLUSTER_SRC/operators.sh" down || log "operators.sh down failed; going on"
  # The API side first, so nothing reschedules or restarts what we stop.
  stop kube-proxy kube-scheduler kube-controller-manager kubelet
  # kube-proxy's nftables tables, and only them: its --cleanup would also run
  # iptables-restore, which can leave empty tables behind on an nft backend.
  local fam
  for fam in ip ip6; do nft delete table "$fam" kube-proxy 2>/dev/null || true; done
  # The pods: kill their processes, then containerd and its shims.
  kill_pod_processes
  stop containerd
  for pid in $(pgrep -f "containerd-shim-runc-v2 .*-address $CTRD_SOCK" || true); do
    kill -KILL "$pid" 2>/dev/null || true
  done
  kill_pod_processes
  sleep 0.3
  stop kube-apiserver
  stop etcd
  # Mounts: pods' volumes, rootfs overlays, shm, and the pods' network
  # namespaces (containerd keeps them under $RUN, not in /run/netns); a
  # namespace goes with its last mount, and the pods' veths with it. Then the bridge.
  unmount_under "$KUBELET_ROOT" "$RUN" "$CTRD_ROOT" /run/containerd
  ip link del "$BRIDGE" 2>/dev/null || true
  # cgroups, deepest first.
  local cg
  for c in "${CGROUP_NAMES[@]}"; do
    for cg in /sys/fs/cgroup/*/"$c" /sys/fs/cgroup/"$c"; do
      [[ -d $cg ]] || continue
      find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null || true
      if [[ -d $cg ]]; then log "could not remove cgroup $cg"; fi
    done
  done
  # Files: the kubelet's and containerd's roots, our runtime dir, host paths we created.
  rm -rf "$KUBELET_ROOT" "$CTRD_ROOT" "$CNI_IPAM_DIR" "$RUN" || log "could not remove all of our files"
  if [[ -d $BASELINE ]]; then
    local p k v
    for p in "${HOST_PATHS[@]}"; do
      grep -qxF "$p" "$BASELINE/paths" && continue
      if findmnt -rn "$p" >/dev/null; then umount "$p" || umount -l "$p"; fi
      rm -rf "$p"
    done
    while IFS='=' read -r k v; do
      [[ $(sysctl -n "$k" 2>/dev/null) == "$v" ]] && continue
      if sysctl -qw "$k=$v"; then log "restored $k=$v"; else log "could not restore $k=$v"; fi
    done <"$BASELINE/sysctl"
    rm -rf "$BASELINE"
  fi
  if ((purge)); then rm -rf "$STATE"; log "purged $STATE"; fi
  log "down in $(since "$t0")"
}

case ${1:-} in
  up) cmd_up ;;
  status) cmd_status ;;
  down) shift; cmd_down "$@" ;;
  *) echo "usage: $0 up|status|down [--purge]" >&2; exit 2 ;;
esac
