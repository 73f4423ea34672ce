"""The attach engine: resolve, choose the driver, compose the plan, apply it, read back.

attach.py     attach / attach_guest / attach_many: the whole run, and its result
context.py    what the steps of one attach share
plan.py       the order of the steps: driver, addresses, DHCP, link up, gateways
addressing.py the guest-side steps: addresses, link up, default routes, liveness
announce.py   gratuitous ARP / unsolicited NA once the link is up
executor.py   applies the steps; undoes them all on failure
render.py     how ``-v`` shows a step run inside the guest
"""
