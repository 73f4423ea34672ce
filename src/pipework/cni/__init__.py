"""pipework as a CNI plugin: ``CNI_COMMAND`` set and no arguments.

protocol.py reads the environment and the network configuration; netconf.py turns
it into an AttachSpec; ipam.py delegates to IPAM plugins or allocates in process
(hostlocal.py); result.py writes each spec version's result; plugin.py runs ADD,
DEL, CHECK, STATUS, GC and VERSION; install.py puts pipework into a CNI bin dir.
"""
