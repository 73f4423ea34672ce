"""``pipework graph``: a picture of the network, of the host as it is now or of a topology.

``model`` is the pure description (nodes, guests drawn as boxes around their
interfaces, edges); ``host`` reads it from the kernel, ``topology`` from a topology
file; ``dot`` writes it as Graphviz DOT text and ``render`` turns that into SVG,
PNG (Graphviz's ``dot``) or a self-contained HTML page.
"""
