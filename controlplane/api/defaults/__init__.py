"""Defaulting as upstream's ``pkg/apis/*/v1/defaults.go``, one module per group.

Where it sits: the registry calls a kind's ``default`` (through its ``KindRules`` in
``validation``) on every write, before validation, so that what is validated and
stored is what a real apiserver would store: ``kubectl get -o yaml`` shows the same
filled-in fields.
"""
