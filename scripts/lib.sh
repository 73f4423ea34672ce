# Shared set-up for scripts/demo and scripts/test (sourced, not run).
# Installs Debian packages only when missing, and the project into .venv.

die() { echo "$0: $*" >&2; exit 1; }

# daemon_failed WHAT LOG: die, showing the end of the daemon's log (CI keeps only output).
daemon_failed() {
    tail -n 20 "$2" >&2 2>/dev/null || true
    die "$1 did not start; see $2"
}

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

# /run is not always a tmpfs (on this machine kind it is the root disk, kept across
# restarts and snapshots), so a daemon that was killed leaves its socket and pid file
# behind. A daemon then dials the dead socket instead of starting its own (dockerd and
# /run/containerd/containerd.sock), or takes a recycled pid for itself running.
# clear_stale_socket SOCKET CHECK...: remove SOCKET (and its .ttrpc twin) when CHECK,
# a client command that talks to it, fails.
clear_stale_socket() {
    sock=$1
    shift
    [ -S "$sock" ] || return 0
    timeout 10 "$@" >/dev/null 2>&1 && return 0
    echo "removing $sock: nothing answers on it (left by a daemon that was killed)"
    rm -f "$sock" "$sock.ttrpc"
}

# clear_stale_pidfile FILE COMM: remove FILE unless its pid is a running COMM.
clear_stale_pidfile() {
    [ -f "$1" ] || return 0
    pid=$(cat "$1" 2>/dev/null || true)
    [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null || true)" = "$2" ] && return 0
    rm -f "$1"
}

# dockerd without its own networking: pipework plumbs the containers itself.
ensure_dockerd() {
    docker version >/dev/null 2>&1 && return 0
    clear_stale_socket /run/containerd/containerd.sock \
        ctr --address /run/containerd/containerd.sock version
    clear_stale_pidfile /run/docker.pid dockerd
    clear_stale_pidfile /run/docker/containerd/containerd.pid containerd
    echo "starting dockerd"
    (dockerd --iptables=false --ip-forward=false --bridge=none \
        >/var/log/pipework-dockerd.log 2>&1 &)
    i=0
    until docker version >/dev/null 2>&1; do
        i=$((i + 1))
        [ "$i" -le 60 ] || daemon_failed "dockerd" /var/log/pipework-dockerd.log
        sleep 0.5
    done
}

# Open vSwitch's database and switch daemon, via Debian's own start script. The
# kernel may lack the openvswitch datapath module; tests then use bridges with
# the userspace datapath (datapath_type=netdev), which ovs-vswitchd provides.
ensure_ovs() {
    ovs-vsctl --timeout=5 show >/dev/null 2>&1 && return 0
    clear_stale_pidfile /run/openvswitch/ovsdb-server.pid ovsdb-server
    clear_stale_pidfile /run/openvswitch/ovs-vswitchd.pid ovs-vswitchd
    echo "starting Open vSwitch"
    /usr/share/openvswitch/scripts/ovs-ctl start --system-id=random \
        >/var/log/pipework-ovs.log 2>&1 \
        || daemon_failed "Open vSwitch" /var/log/pipework-ovs.log
}

# LXD (Debian's 5.0) for the LXD/Incus resolver's tests. It reaches for image servers
# when it starts, so it runs in a network namespace of its own with only lo: nsenter
# changes only the network namespace (`ip netns exec` would also remount /sys, hiding
# the cgroup hierarchies LXC needs to start a container). One dir storage pool and no
# network: the tests' containers have no NIC until pipework gives them one.
ensure_lxd() {
    if ! lxc query /1.0 >/dev/null 2>&1; then
        echo "starting LXD"
        # The name may outlive its namespace (a plain file on a /run kept on disk).
        if ! nsenter --net=/run/netns/pwtlxd true 2>/dev/null; then
            ip netns delete pwtlxd 2>/dev/null || rm -f /run/netns/pwtlxd
            ip netns add pwtlxd
        fi
        ip -n pwtlxd link set lo up
        (nsenter --net=/run/netns/pwtlxd lxd --group root \
            --logfile /var/log/pipework-lxd.log >/dev/null 2>&1 &)
        lxd waitready --timeout 60 || daemon_failed "LXD" /var/log/pipework-lxd.log
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
    clear_stale_socket "$sock" ctr --address "$sock" version
    echo "starting containerd"
    (containerd >/var/log/pipework-containerd.log 2>&1 &)
    i=0
    until [ -S "$sock" ] && ctr version >/dev/null 2>&1; do
        i=$((i + 1))
        [ "$i" -le 60 ] || daemon_failed "containerd" /var/log/pipework-containerd.log
        sleep 0.5
    done
}
