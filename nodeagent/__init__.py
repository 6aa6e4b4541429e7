"""kubeclass node agent: registers its Node, runs the pods bound to it as supervised
processes, probes them and reports their status. It arrives with the workloads issue;
for now the API server answers ``pods/log`` with an error saying no node agent runs.
"""
