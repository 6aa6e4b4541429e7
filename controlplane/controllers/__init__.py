"""The controllers: level-triggered loops that make the cluster converge.

Each one watches through informers (``controlplane.client``), puts keys on a work
queue and reconciles one key at a time, writing only through the API server; none
imports ``controlplane.api`` or ``controlplane.storage``. Start with :mod:`.base` (the
shared shape), then one file per controller; :mod:`.manager` runs them.
"""
