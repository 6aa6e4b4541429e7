"""The plugin framework: three extension points, one result type, and how results add up.

Where it sits: between the scheduling cycle (:mod:`.scheduler`) and the plugins
(:mod:`.plugins`). It is upstream's ``framework/interface.go`` cut down to what a
student needs to see a pod placed:

* **Filter** - ``filter(pod, node) -> Status``: can this node run the pod at all?
  Plugins run in profile order and a node is out at the first plugin that says no;
  that plugin's reasons are what ``FailedScheduling`` will count.
* **Score** - ``score(state, pod, node) -> int`` for every node that passed, then
  ``normalize(state, pod, scores)`` to bring them to 0..100; ``pre_score`` may
  prepare per-cycle ``state`` from all nodes at once, or answer ``SKIP`` when the
  plugin has nothing to say about this pod. The framework multiplies each plugin's
  normalized score by its weight and adds them up.
* **Bind** - ``bind(pod, node_name) -> Status``: tell the API server.

A :class:`Status` carries a :class:`Code` that decides what happens next, as in
upstream: ``UNSCHEDULABLE`` means "another node, or a change in the cluster, may
help" (and preemption could), ``UNSCHEDULABLE_AND_UNRESOLVABLE`` means "nothing on
this node will change that by evicting pods", ``ERROR`` means "something broke,
retry after a back-off".
"""

from __future__ import annotations

import dataclasses
import enum
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from .nodeinfo import NodeInfo, PodInfo, Snapshot

MAX_NODE_SCORE = 100
CycleState = dict[str, Any]   # what pre_score leaves for score/normalize, keyed by plugin name


class Code(enum.Enum):
    SUCCESS = "Success"
    ERROR = "Error"
    UNSCHEDULABLE = "Unschedulable"
    UNSCHEDULABLE_AND_UNRESOLVABLE = "UnschedulableAndUnresolvable"
    SKIP = "Skip"


@dataclasses.dataclass(frozen=True)
class Status:
    code: Code = Code.SUCCESS
    reasons: tuple[str, ...] = ()
    plugin: str = ""     # which plugin said so (filled in by the framework)

    @classmethod
    def unschedulable(cls, *reasons: str) -> Status:
        return cls(Code.UNSCHEDULABLE, reasons)

    @classmethod
    def unresolvable(cls, *reasons: str) -> Status:
        return cls(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, reasons)

    @classmethod
    def error(cls, message: str) -> Status:
        return cls(Code.ERROR, (message,))

    @property
    def success(self) -> bool:
        return self.code is Code.SUCCESS

    @property
    def rejected(self) -> bool:
        """The pod does not fit (as opposed to: something went wrong)."""
        return self.code in (Code.UNSCHEDULABLE, Code.UNSCHEDULABLE_AND_UNRESOLVABLE)

    @property
    def message(self) -> str:
        return ", ".join(self.reasons)


SUCCESS = Status()
SKIP = Status(Code.SKIP)

# -- the three extension points --------------------------------------------------------


class FilterPlugin(Protocol):
    NAME: str
    # Cluster events after which a pod this plugin rejected may fit (see queue.py).
    EVENTS: frozenset[str]

    def filter(self, pod: PodInfo, node: NodeInfo) -> Status: ...


class ScorePlugin(Protocol):
    NAME: str

    def pre_score(self, state: CycleState, pod: PodInfo, feasible: Sequence[NodeInfo],
                  snapshot: Snapshot) -> Status: ...

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int: ...

    def normalize(self, state: CycleState, pod: PodInfo, scores: dict[str, int]) -> None: ...


class BindPlugin(Protocol):
    NAME: str

    def bind(self, pod: PodInfo, node_name: str) -> Status: ...


class ScoreDefaults:
    """Mix-in for score plugins that need no preparation and are already on 0..100."""

    def pre_score(self, state: CycleState, pod: PodInfo, feasible: Sequence[NodeInfo],
                  snapshot: Snapshot) -> Status:
        return SUCCESS

    def normalize(self, state: CycleState, pod: PodInfo, scores: dict[str, int]) -> None:
        return None


def default_normalize(scores: dict[str, int], *, reverse: bool = False) -> None:
    """Scale so the highest score becomes 100 (``reverse``: the lowest does), in place.

    Upstream's ``helper.DefaultNormalizeScore``: with every score 0, all become 0, or
    all 100 when reversed (nobody is worse than anybody else)."""
    highest = max(scores.values(), default=0)
    for name, score in scores.items():
        if highest == 0:
            scores[name] = MAX_NODE_SCORE if reverse else 0
            continue
        scaled = MAX_NODE_SCORE * score // highest
        scores[name] = MAX_NODE_SCORE - scaled if reverse else scaled

# -- running the plugins -------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class NodeScore:
    """A feasible node's result: the weighted total, and each plugin's share for the curious."""

    node: str
    total: int                         # sum over plugins of weight * normalized score
    by_plugin: Mapping[str, int]       # plugin -> normalized score (0..100), skipped plugins absent
    weight_sum: int                    # the weights of the plugins that scored

    @property
    def out_of_100(self) -> int:
        """The total as a weighted average on the 0..100 scale every plugin uses."""
        return round(self.total / self.weight_sum) if self.weight_sum else 0


MIN_FEASIBLE_NODES_TO_FIND = 100
MIN_FEASIBLE_NODES_PERCENTAGE = 5


def feasible_nodes_to_find(total: int, percentage: int = 0) -> int:
    """How many feasible nodes a cycle looks for before it stops filtering: upstream's
    ``numFeasibleNodesToFind``. Below 100 nodes, all of them; above, a share that shrinks
    as clusters grow (``percentageOfNodesToScore``, adaptive by default: 50 % minus one
    point per 125 nodes, at least 5 %), and never fewer than 100. Any feasible node is a
    valid choice; scoring all of a big cluster's nodes for every pod is what would not scale."""
    if total < MIN_FEASIBLE_NODES_TO_FIND:
        return total
    if percentage <= 0:
        percentage = max(50 - total // 125, MIN_FEASIBLE_NODES_PERCENTAGE)
    return max(total * min(percentage, 100) // 100, MIN_FEASIBLE_NODES_TO_FIND)


@dataclasses.dataclass
class Framework:
    """One scheduler profile's plugins, in order, with their score weights."""

    filters: list[FilterPlugin]
    scores: list[tuple[ScorePlugin, int]]
    binder: BindPlugin
    percentage_of_nodes_to_score: int = 0  # 0: adaptive, as upstream's default
    _next_start: int = 0  # where the next cycle starts filtering, so every node gets its turn

    def run_filters(self, pod: PodInfo, node: NodeInfo) -> Status:
        """The first plugin that rejects the node decides."""
        for plugin in self.filters:
            status = plugin.filter(pod, node)
            if not status.success:
                return dataclasses.replace(status, plugin=plugin.NAME)
        return SUCCESS

    def filter(self, pod: PodInfo, snapshot: Snapshot) -> tuple[list[NodeInfo], dict[str, Status]]:
        """Feasible nodes (enough of them: :func:`feasible_nodes_to_find`), and for every
        node looked at and found wanting, the status that rejected it. A pod that fits
        nowhere has been tried on every node, so its explanation covers them all."""
        nodes = snapshot.nodes
        wanted = feasible_nodes_to_find(len(nodes), self.percentage_of_nodes_to_score)
        feasible: list[NodeInfo] = []
        rejected: dict[str, Status] = {}
        start, looked = (self._next_start % len(nodes) if nodes else 0), 0
        for looked in range(1, len(nodes) + 1):
            node = nodes[(start + looked - 1) % len(nodes)]
            status = self.run_filters(pod, node)
            if status.success:
                feasible.append(node)
                if len(feasible) >= wanted:
                    break
            else:
                rejected[node.name] = status
        self._next_start = start + looked
        return feasible, rejected

    def score(self, pod: PodInfo, feasible: list[NodeInfo], snapshot: Snapshot) -> list[NodeScore]:
        """Every feasible node's weighted score, best first (ties in name order)."""
        state: CycleState = {}
        per_plugin: dict[str, dict[str, int]] = {}
        weights: dict[str, int] = {}
        for plugin, weight in self.scores:
            if plugin.pre_score(state, pod, feasible, snapshot).code is Code.SKIP:
                continue
            scores = {node.name: plugin.score(state, pod, node) for node in feasible}
            plugin.normalize(state, pod, scores)
            per_plugin[plugin.NAME] = scores
            weights[plugin.NAME] = weight
        weight_sum = sum(weights.values())
        result = []
        for node in feasible:
            by_plugin = {name: scores[node.name] for name, scores in per_plugin.items()}
            total = sum(weights[name] * score for name, score in by_plugin.items())
            result.append(NodeScore(node.name, total, by_plugin, weight_sum))
        result.sort(key=lambda s: (-s.total, s.node))
        return result

    def plugins_for_event(self) -> dict[str, frozenset[str]]:
        """Filter plugin name -> the cluster events that may undo its rejection."""
        return {p.NAME: frozenset(getattr(p, "EVENTS", frozenset())) for p in self.filters}

# -- explaining a failure (upstream's FitError) ------------------------------------------------


def fit_error(num_nodes: int, statuses: Mapping[str, Status], post_filter: str = "") -> str:
    """"0/5 nodes are available: 2 Insufficient cpu, 3 node(s) had untolerated taint {...}."

    Each reason is counted once per node it stopped; the counts are sorted as text,
    as Go's ``sort.Strings`` sorts them. A PostFilter (preemption) note follows.
    """
    counts: Counter[str] = Counter(reason for status in statuses.values() for reason in status.reasons)
    message = f"0/{num_nodes} nodes are available:"
    histogram = sorted(f"{count} {reason}" for reason, count in counts.items())
    if histogram:
        message += f" {', '.join(histogram)}."
    if post_filter:
        message += f" {post_filter}"
    return message

