"""The attach engine: resolve, choose the driver, compose the plan, apply it, read back.

attach.py     attach / attach_guest / attach_many: the whole run, and its result
plan.py       the steps beyond the driver's (addresses, link up, DHCP, gateways), in order
context.py    what the steps of one attach share; how ``-v`` shows a step in the guest
announce.py   gratuitous ARP / unsolicited NA once the link is up
executor.py   applies the steps; undoes them all on failure
"""
