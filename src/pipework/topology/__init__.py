"""Topologies: ``pipework up FILE`` / ``down FILE`` from a containerlab-style file.

``parse`` (the file as checked records; ``source`` reads YAML or JSON with line
numbers), ``plan`` (what is missing on the host, as steps), ``up`` (applying them,
and ``down``). PyYAML is imported only when a YAML file is read.
"""
