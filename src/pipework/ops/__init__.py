"""The verbs besides attach, one module each: detach, ls, inspect, link, gc,
passthrough (route, rule, tc in a guest) and wait (``--wait``, inside a guest).

Each takes typed arguments and returns plain data; the command line (``cli``)
parses into them and prints what they return.
"""
