"""One stage's tasks, built once per stage rather than once per delivery.

A round's first task carries what every sampled client gets alike - the peer list (n identity
keys and certificates), the model version, the training settings, the CRLs - and the client's own
protocol request. Building that per client and per delivery cost the server O(n) protobuf
objects per client, O(n²) per round. Here the shared part is one :class:`SharedTask`, serialised
once per stage, and each client's :class:`StageTask` holds only its own fields. On the stream the
two serialisations are concatenated: protobuf merges a repeated occurrence of a singular message
field, so ``own + shared`` parses as the whole task without ever building it.
"""

from __future__ import annotations

from .proto import secagg_net_pb2 as pb


class SharedTask:
    """The fields of a stage's task that every client of the stage gets alike."""

    def __init__(self, task: pb.Task) -> None:
        self.task = task
        self.wire = pb.ServerMessage(task=task).SerializeToString()


class StageTask:
    """One client's task of an open stage: its own fields, plus the stage's shared ones (if any)."""

    __slots__ = ("own", "shared")

    def __init__(self, own: pb.Task, shared: SharedTask | None = None) -> None:
        self.own = own
        self.shared = shared

    @property
    def session_id(self) -> bytes:
        return self.own.session_id

    @property
    def stage(self) -> int:
        return self.own.stage

    @property
    def round(self) -> int:
        return self.own.round

    def message(self) -> pb.Task:
        """The whole task as one message (the unary ``GetTask`` answer)."""
        if self.shared is None:
            return self.own
        task = pb.Task()
        task.CopyFrom(self.own)
        task.MergeFrom(self.shared.task)
        return task

    def wire(self) -> bytes:
        """The whole task as a serialised ``ServerMessage`` (the stream's push)."""
        own = pb.ServerMessage(task=self.own).SerializeToString()
        return own if self.shared is None else own + self.shared.wire
