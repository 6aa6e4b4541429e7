"""Lab hosts: five machine-like hosts on one Linux machine, for tests and for instructors
without VMs. `image` builds the cached Debian 12 root, `network` the private bridge,
`lab` the systemd-nspawn hosts and their inventory, `sshkey` the lab's SSH key."""

from provision.labhosts.image import ImageError, ensure_image, reference_status
from provision.labhosts.lab import Lab, LabError, LabHost, default_home

__all__ = ["ImageError", "Lab", "LabError", "LabHost", "default_home", "ensure_image",
           "reference_status"]
