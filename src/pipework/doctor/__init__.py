"""The host traps around pipework, detected (``pipework doctor``) and, for one, removed.

``forward``: br_netfilter and a firewall dropping traffic within a bridge (and the
narrow accept rule of ``--allow-forward``); ``agents``: NetworkManager,
systemd-networkd and udev policies that take over pipework's interfaces;
``host``: forwarding sysctls of a gateway bridge, STP, DHCP clients pinning dead
namespaces; ``run``: the verb.
"""
