"""kubeclass provisioning: Ansible-style playbooks run over SSH with Fabric.

It arrives with the provisioning issue. It never imports the cluster code
(``controlplane``, ``nodeagent``): it installs them on hosts as files and services.
"""
