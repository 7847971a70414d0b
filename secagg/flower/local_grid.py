"""``LocalGrid``: a Flower ``Grid`` that runs ClientApps in this process, one call per message.

For fast tests and benchmarks without Ray or a SuperLink: every node has its own ``Context``
(kept across messages, as a SuperNode keeps it), messages are copied on the way in and out (no
object is shared between the two sides), a ClientApp exception becomes an error reply as in
Flower's runtimes, and ``drop(node_id, message)`` returning True makes that node send nothing
from then on (a dropout). The bytes of every reply's records are counted per node and per
message type (:attr:`LocalGrid.reply_bytes`); client time and CPU per node in
:attr:`LocalGrid.client_seconds` / :attr:`LocalGrid.client_cpu`.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterable, Mapping
from uuid import uuid4

from flwr.app import Context, Error, Message, RecordDict
from flwr.clientapp import ClientApp
from flwr.common.constant import SUPERLINK_NODE_ID
from flwr.serverapp.grid import Grid
from flwr.supercore.run import Run
from flwr.supercore.task_identity import TaskIdentity

from ..errors import ConfigError


def record_bytes(content: RecordDict) -> int:
    """Payload bytes of a message's records: array data, bytes and strings (ints and floats 8)."""
    total = 0
    for record in content.array_records.values():
        total += sum(len(array.data) for array in record.values())
    for record in content.config_records.values():
        for value in record.values():
            for item in value if isinstance(value, list) else [value]:
                total += len(item) if isinstance(item, (bytes, str)) else 8
    for record in content.metric_records.values():
        total += 8 * sum(len(v) if isinstance(v, list) else 1 for v in record.values())
    return total


class LocalGrid(Grid):
    """Runs ``app`` for ``num_nodes`` nodes (ids 1..n unless ``node_ids``) with ``node_config``
    ``{"partition-id": i, "num-partitions": n}``; see the module docstring."""

    def __init__(self, app: ClientApp, num_nodes: int, *, node_ids: Iterable[int] | None = None,
                 run_config: Mapping[str, object] | None = None,
                 drop: Callable[[int, Message], bool] | None = None) -> None:
        ids = list(node_ids) if node_ids is not None else list(range(1, num_nodes + 1))
        if len(ids) != num_nodes or len(set(ids)) != num_nodes:
            raise ConfigError("node_ids must hold num_nodes distinct ids")
        self.app, self.drop = app, drop
        self._run = Run.create_empty(run_id=1)
        self.contexts = {node: Context(run_id=1, node_id=node, state=RecordDict(), run_config=dict(run_config or {}),
                                       node_config={"partition-id": i, "num-partitions": num_nodes})
                         for i, node in enumerate(ids)}
        self.dropped: set[int] = set()
        self.reply_bytes: dict[int, dict[str, int]] = {node: {} for node in ids}
        self.client_seconds = dict.fromkeys(ids, 0.0)
        self.client_cpu = dict.fromkeys(ids, 0.0)
        self._replies: dict[str, Message] = {}
        # this process plays the ServerApp: messages it creates take their sender from here
        TaskIdentity.task_id, TaskIdentity.run_id, TaskIdentity.node_id = 1, 1, SUPERLINK_NODE_ID

    def set_run(self, run: Run) -> None:
        self._run = run

    @property
    def run(self) -> Run:
        return self._run

    def create_message(self, content: RecordDict, message_type: str, dst_node_id: int, group_id: str,
                       ttl: float | None = None) -> Message:
        return Message(content, dst_node_id, message_type, ttl=ttl, group_id=group_id)

    def get_node_ids(self) -> Iterable[int]:
        return [node for node in self.contexts if node not in self.dropped]

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        ids = []
        for msg in messages:
            msg.metadata.__dict__["_message_id"] = str(uuid4())
            ids.append(msg.metadata.message_id)
            reply = self._deliver(msg)
            if reply is not None:
                self._replies[msg.metadata.message_id] = reply
        return ids

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
        return [self._replies.pop(i) for i in message_ids if i in self._replies]

    def send_and_receive(self, messages: Iterable[Message], *, timeout: float | None = None) -> Iterable[Message]:
        return self.pull_messages(self.push_messages(messages))

    def _deliver(self, msg: Message) -> Message | None:
        node = msg.metadata.dst_node_id
        if node not in self.contexts or node in self.dropped:
            return None
        if self.drop is not None and self.drop(node, msg):
            self.dropped.add(node)
            return None
        incoming = Message(copy.deepcopy(msg.content), metadata=copy.deepcopy(msg.metadata))
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            reply = self.app(incoming, self.contexts[node])
        except Exception as exc:  # as Flower's runtimes do: the exception becomes an error reply
            reply = Message(Error(code=1, reason=f"{type(exc).__name__}: {exc}"), reply_to=incoming)
        finally:
            self.client_seconds[node] += time.perf_counter() - t0
            self.client_cpu[node] += time.process_time() - c0
        if not reply.has_error():
            reply = Message(copy.deepcopy(reply.content), reply_to=incoming)
            kind = msg.metadata.message_type
            self.reply_bytes[node][kind] = self.reply_bytes[node].get(kind, 0) + record_bytes(reply.content)
        return reply
