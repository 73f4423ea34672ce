"""The one ethtool setting pipework changes: transmit checksum offload.

Open vSwitch's userspace datapath (``datapath_type=netdev``) reads and writes
packets through packet sockets and never completes a checksum a sender left to
the hardware. A veth offloads checksums by default, so ICMP crosses such a
bridge while every TCP and UDP packet arrives with a bad checksum and is dropped.
Turning off transmit checksumming on the guest's end (``ethtool -K IF tx off``)
makes the guest's kernel finish each checksum itself; it is what OVS's own
documentation tells users of veths on the userspace datapath to do.

The legacy ioctl is used rather than the ethtool netlink family: one call, no
generic-netlink family lookup, and kernels from before 5.6 have it too.
"""

from __future__ import annotations

import ctypes
import fcntl
from _socket import AF_INET, SOCK_CLOEXEC, SOCK_DGRAM, socket
from _struct import Struct

from .errors import NetlinkError

SIOCETHTOOL = 0x8946
ETHTOOL_STXCSUM = 0x17  # set transmit checksum offload (struct ethtool_value)
_VALUE = Struct("=II")  # struct ethtool_value {u32 cmd; u32 data}
_IFREQ = Struct("16sP16x")  # struct ifreq (40 bytes): ifr_name[16], the union (ifr_data)


def disable_tx_checksum(ifname: str) -> None:
    """``ethtool -K IFNAME tx off`` in the current network namespace."""
    value = ctypes.create_string_buffer(_VALUE.pack(ETHTOOL_STXCSUM, 0), _VALUE.size)
    request = bytearray(_IFREQ.pack(ifname.encode(), ctypes.addressof(value)))
    sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)
    try:
        fcntl.ioctl(sock.fileno(), SIOCETHTOOL, request)
    except OSError as exc:
        # not netlink, but the same shape of error: the step, the object, the errno
        raise NetlinkError(
            exc.errno or 0, "turn off transmit checksum offload on", ifname
        ) from None
    finally:
        sock.close()
