"""Case workflow: services that build facts, evaluate rule sets and apply decisions.

Services take ``session``, ``now`` and ``actor`` as arguments, ``flush()`` and never
commit: the request wrapper (api/) or the job wrapper (scheduler/) owns the transaction.
Nothing here imports Flask.
"""
