"""Benchmarks: programs that measure kubeclass and print their figures.

Where they sit: outside the product and outside the test suite. A benchmark starts
real processes (a local cluster, a baseline server), drives them from this machine,
and prints what it measured beside a baseline measured in the same run, so a figure
can be read against what the machine itself manages. Performance is judged here, by
a person reading the figures, never by a timed assertion in a test.

    python -m benchmarks.apiserver    the API server: GET, create, LIST and watch
                                      (``./dev bench`` runs exactly this)
    python -m benchmarks.profiling    the same load against a profiled API server,
                                      to see where the server's time goes
"""
