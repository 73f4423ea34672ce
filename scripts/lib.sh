# Shared set-up for scripts/demo and scripts/test (sourced, not run).
# Installs Debian packages only when missing, and the project into .venv.

die() { echo "$0: $*" >&2; exit 1; }

need_root() {
    [ "$(id -u)" = 0 ] || die "run as root (network namespaces, bridges and containers need it)"
}

apt_install() {
    missing=""
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
            || missing="$missing $pkg"
    done
    [ -z "$missing" ] && return 0
    echo "installing Debian packages:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
}

# The project venv uses Debian's python3 (it starts in ~10 ms; start-up time is
# part of every pipework run).
make_venv() {
    extras=$1
    py=/usr/bin/python3
    [ -x .venv/bin/python ] || "$py" -m venv .venv
    .venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
    .venv/bin/python -m pip install -q -e ".$extras"
    # Builds are isolated, so the venv itself needs no setuptools; without it no
    # distutils shim is loaded at every interpreter start (part of each pipework run).
    .venv/bin/python -m pip uninstall -q -y setuptools >/dev/null 2>&1 || true
    # Compile now: a run must never pay for byte-compiling (and may not be allowed to).
    .venv/bin/python -m compileall -q src >/dev/null
}

# A venv as a user gets from `pip install .`: the package byte-compiled at install,
# no editable finder, no setuptools. What the benchmarks measure.
make_runtime_venv() {
    dir=$1
    [ -x "$dir/bin/python" ] || /usr/bin/python3 -m venv "$dir"
    "$dir/bin/python" -m pip install -q --upgrade pip >/dev/null 2>&1 || true
    "$dir/bin/python" -m pip install -q --force-reinstall --no-deps .
    "$dir/bin/python" -m pip uninstall -q -y setuptools >/dev/null 2>&1 || true
}

# dockerd without its own networking: pipework plumbs the containers itself.
ensure_dockerd() {
    docker version >/dev/null 2>&1 && return 0
    echo "starting dockerd"
    (dockerd --iptables=false --ip-forward=false --bridge=none \
        >/var/log/pipework-dockerd.log 2>&1 &)
    i=0
    until docker version >/dev/null 2>&1; do
        i=$((i + 1))
        [ "$i" -le 60 ] || die "dockerd did not start; see /var/log/pipework-dockerd.log"
        sleep 0.5
    done
}

# Open vSwitch's database and switch daemon, via Debian's own start script. The
# kernel may lack the openvswitch datapath module; tests then use bridges with
# the userspace datapath (datapath_type=netdev), which ovs-vswitchd provides.
ensure_ovs() {
    ovs-vsctl --timeout=5 show >/dev/null 2>&1 && return 0
    echo "starting Open vSwitch"
    /usr/share/openvswitch/scripts/ovs-ctl start --system-id=random \
        >/var/log/pipework-ovs.log 2>&1 \
        || die "Open vSwitch did not start; see /var/log/pipework-ovs.log"
}

# LXD (Debian's 5.0) for the LXD/Incus resolver's tests. It reaches for image servers
# when it starts, so it runs in a network namespace of its own with only lo: nsenter
# changes only the network namespace (`ip netns exec` would also remount /sys, hiding
# the cgroup hierarchies LXC needs to start a container). One dir storage pool and no
# network: the tests' containers have no NIC until pipework gives them one.
ensure_lxd() {
    if ! lxc query /1.0 >/dev/null 2>&1; then
        echo "starting LXD"
        [ -e /run/netns/pwtlxd ] || ip netns add pwtlxd
        ip -n pwtlxd link set lo up
        (nsenter --net=/run/netns/pwtlxd lxd --group root \
            --logfile /var/log/pipework-lxd.log >/dev/null 2>&1 &)
        lxd waitready --timeout 60 || die "LXD did not start; see /var/log/pipework-lxd.log"
    fi
    lxc storage show pwtpool >/dev/null 2>&1 && return 0
    printf 'storage_pools:\n- name: pwtpool\n  driver: dir\n' | lxd init --preseed \
        || die "LXD has no storage pool pwtpool and could not make one"
}

# Debian's containerd with its default configuration (state in /run/containerd, socket
# /run/containerd/containerd.sock): the containerd and k8s resolvers' tests run tasks in
# it with ctr. (Docker's own containerd, under /run/docker/containerd, is another one.)
ensure_containerd() {
    sock=/run/containerd/containerd.sock
    [ -S "$sock" ] && ctr version >/dev/null 2>&1 && return 0
    echo "starting containerd"
    (containerd >/var/log/pipework-containerd.log 2>&1 &)
    i=0
    until [ -S "$sock" ] && ctr version >/dev/null 2>&1; do
        i=$((i + 1))
        [ "$i" -le 60 ] || die "containerd did not start; see /var/log/pipework-containerd.log"
        sleep 0.5
    done
}
