"""Declared attachments, and the processes that keep them: ``pipework apply`` and
``pipework watch``.

declare.py turns a declaration (a label's, a ``pipework_cmd`` variable's, a line of
/etc/pipework/attachments.d) into an AttachSpec; docker.py, lxc.py and files.py find
the declarations of running guests and follow their runtimes' events; reconcile.py
attaches what is missing and says what differs; log.py writes one line per action;
loop.py is ``watch``.
"""
