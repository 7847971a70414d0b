from typing import ClassVar as _ClassVar
from typing import Iterable as _Iterable
from typing import Mapping as _Mapping
from typing import Optional as _Optional
from typing import Union as _Union

from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper

DESCRIPTOR: _descriptor.FileDescriptor

class Auth(_message.Message):
    __slots__ = ("client_id", "counter", "signature")
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    COUNTER_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    client_id: int
    counter: int
    signature: bytes
    def __init__(self, client_id: _Optional[int] = ..., counter: _Optional[int] = ..., signature: _Optional[bytes] = ...) -> None: ...

class RegisterRequest(_message.Message):
    __slots__ = ("public_key", "enroll_token", "counter", "signature", "certificate", "n_items", "factors", "require_active", "corrupt_fraction")
    PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    ENROLL_TOKEN_FIELD_NUMBER: _ClassVar[int]
    COUNTER_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    CERTIFICATE_FIELD_NUMBER: _ClassVar[int]
    N_ITEMS_FIELD_NUMBER: _ClassVar[int]
    FACTORS_FIELD_NUMBER: _ClassVar[int]
    REQUIRE_ACTIVE_FIELD_NUMBER: _ClassVar[int]
    CORRUPT_FRACTION_FIELD_NUMBER: _ClassVar[int]
    public_key: bytes
    enroll_token: bytes
    counter: int
    signature: bytes
    certificate: bytes
    n_items: int
    factors: int
    require_active: bool
    corrupt_fraction: float
    def __init__(self, public_key: _Optional[bytes] = ..., enroll_token: _Optional[bytes] = ..., counter: _Optional[int] = ..., signature: _Optional[bytes] = ..., certificate: _Optional[bytes] = ..., n_items: _Optional[int] = ..., factors: _Optional[int] = ..., require_active: bool = ..., corrupt_fraction: _Optional[float] = ...) -> None: ...

class RegisterReply(_message.Message):
    __slots__ = ("client_id", "run_id", "instance")
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    INSTANCE_FIELD_NUMBER: _ClassVar[int]
    client_id: int
    run_id: str
    instance: bytes
    def __init__(self, client_id: _Optional[int] = ..., run_id: _Optional[str] = ..., instance: _Optional[bytes] = ...) -> None: ...

class TaskRequest(_message.Message):
    __slots__ = ("auth", "have_session", "have_stage", "wait_ms", "instance")
    AUTH_FIELD_NUMBER: _ClassVar[int]
    HAVE_SESSION_FIELD_NUMBER: _ClassVar[int]
    HAVE_STAGE_FIELD_NUMBER: _ClassVar[int]
    WAIT_MS_FIELD_NUMBER: _ClassVar[int]
    INSTANCE_FIELD_NUMBER: _ClassVar[int]
    auth: Auth
    have_session: bytes
    have_stage: int
    wait_ms: int
    instance: bytes
    def __init__(self, auth: _Optional[_Union[Auth, _Mapping]] = ..., have_session: _Optional[bytes] = ..., have_stage: _Optional[int] = ..., wait_ms: _Optional[int] = ..., instance: _Optional[bytes] = ...) -> None: ...

class TrainingSpec(_message.Message):
    __slots__ = ("epochs", "lr", "reg", "batch_size", "negatives", "clip_norm")
    EPOCHS_FIELD_NUMBER: _ClassVar[int]
    LR_FIELD_NUMBER: _ClassVar[int]
    REG_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    NEGATIVES_FIELD_NUMBER: _ClassVar[int]
    CLIP_NORM_FIELD_NUMBER: _ClassVar[int]
    epochs: int
    lr: float
    reg: float
    batch_size: int
    negatives: int
    clip_norm: float
    def __init__(self, epochs: _Optional[int] = ..., lr: _Optional[float] = ..., reg: _Optional[float] = ..., batch_size: _Optional[int] = ..., negatives: _Optional[int] = ..., clip_norm: _Optional[float] = ...) -> None: ...

class Peer(_message.Message):
    __slots__ = ("client_id", "public_key", "certificate")
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    CERTIFICATE_FIELD_NUMBER: _ClassVar[int]
    client_id: int
    public_key: bytes
    certificate: bytes
    def __init__(self, client_id: _Optional[int] = ..., public_key: _Optional[bytes] = ..., certificate: _Optional[bytes] = ...) -> None: ...

class Task(_message.Message):
    __slots__ = ("kind", "round", "stage", "session_id", "request", "model_version", "model_hash", "training", "peers", "retry_after_ms", "dp_params", "dp_round_seed", "revocation_lists", "end_reason", "rounds_completed")
    class Kind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        WAIT: _ClassVar[Task.Kind]
        STAGE: _ClassVar[Task.Kind]
        END: _ClassVar[Task.Kind]
    WAIT: Task.Kind
    STAGE: Task.Kind
    END: Task.Kind
    KIND_FIELD_NUMBER: _ClassVar[int]
    ROUND_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    MODEL_HASH_FIELD_NUMBER: _ClassVar[int]
    TRAINING_FIELD_NUMBER: _ClassVar[int]
    PEERS_FIELD_NUMBER: _ClassVar[int]
    RETRY_AFTER_MS_FIELD_NUMBER: _ClassVar[int]
    DP_PARAMS_FIELD_NUMBER: _ClassVar[int]
    DP_ROUND_SEED_FIELD_NUMBER: _ClassVar[int]
    REVOCATION_LISTS_FIELD_NUMBER: _ClassVar[int]
    END_REASON_FIELD_NUMBER: _ClassVar[int]
    ROUNDS_COMPLETED_FIELD_NUMBER: _ClassVar[int]
    kind: Task.Kind
    round: int
    stage: int
    session_id: bytes
    request: bytes
    model_version: int
    model_hash: str
    training: TrainingSpec
    peers: _containers.RepeatedCompositeFieldContainer[Peer]
    retry_after_ms: int
    dp_params: bytes
    dp_round_seed: bytes
    revocation_lists: bytes
    end_reason: str
    rounds_completed: int
    def __init__(self, kind: _Optional[_Union[Task.Kind, str]] = ..., round: _Optional[int] = ..., stage: _Optional[int] = ..., session_id: _Optional[bytes] = ..., request: _Optional[bytes] = ..., model_version: _Optional[int] = ..., model_hash: _Optional[str] = ..., training: _Optional[_Union[TrainingSpec, _Mapping]] = ..., peers: _Optional[_Iterable[_Union[Peer, _Mapping]]] = ..., retry_after_ms: _Optional[int] = ..., dp_params: _Optional[bytes] = ..., dp_round_seed: _Optional[bytes] = ..., revocation_lists: _Optional[bytes] = ..., end_reason: _Optional[str] = ..., rounds_completed: _Optional[int] = ...) -> None: ...

class SubmitRequest(_message.Message):
    __slots__ = ("auth", "round", "stage", "session_id", "reply", "instance")
    AUTH_FIELD_NUMBER: _ClassVar[int]
    ROUND_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    REPLY_FIELD_NUMBER: _ClassVar[int]
    INSTANCE_FIELD_NUMBER: _ClassVar[int]
    auth: Auth
    round: int
    stage: int
    session_id: bytes
    reply: bytes
    instance: bytes
    def __init__(self, auth: _Optional[_Union[Auth, _Mapping]] = ..., round: _Optional[int] = ..., stage: _Optional[int] = ..., session_id: _Optional[bytes] = ..., reply: _Optional[bytes] = ..., instance: _Optional[bytes] = ...) -> None: ...

class SubmitReply(_message.Message):
    __slots__ = ("accepted",)
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    accepted: bool
    def __init__(self, accepted: bool = ...) -> None: ...

class ModelRequest(_message.Message):
    __slots__ = ("auth", "version", "instance")
    AUTH_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    INSTANCE_FIELD_NUMBER: _ClassVar[int]
    auth: Auth
    version: int
    instance: bytes
    def __init__(self, auth: _Optional[_Union[Auth, _Mapping]] = ..., version: _Optional[int] = ..., instance: _Optional[bytes] = ...) -> None: ...

class ModelReply(_message.Message):
    __slots__ = ("version", "round", "hash", "n_items", "factors", "vector")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    ROUND_FIELD_NUMBER: _ClassVar[int]
    HASH_FIELD_NUMBER: _ClassVar[int]
    N_ITEMS_FIELD_NUMBER: _ClassVar[int]
    FACTORS_FIELD_NUMBER: _ClassVar[int]
    VECTOR_FIELD_NUMBER: _ClassVar[int]
    version: int
    round: int
    hash: str
    n_items: int
    factors: int
    vector: bytes
    def __init__(self, version: _Optional[int] = ..., round: _Optional[int] = ..., hash: _Optional[str] = ..., n_items: _Optional[int] = ..., factors: _Optional[int] = ..., vector: _Optional[bytes] = ...) -> None: ...

class ClientMessage(_message.Message):
    __slots__ = ("hello", "submit", "model", "heartbeat")
    HELLO_FIELD_NUMBER: _ClassVar[int]
    SUBMIT_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    hello: TaskRequest
    submit: SubmitRequest
    model: ModelRequest
    heartbeat: TaskRequest
    def __init__(self, hello: _Optional[_Union[TaskRequest, _Mapping]] = ..., submit: _Optional[_Union[SubmitRequest, _Mapping]] = ..., model: _Optional[_Union[ModelRequest, _Mapping]] = ..., heartbeat: _Optional[_Union[TaskRequest, _Mapping]] = ...) -> None: ...

class ServerMessage(_message.Message):
    __slots__ = ("task", "submitted", "model")
    TASK_FIELD_NUMBER: _ClassVar[int]
    SUBMITTED_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    task: Task
    submitted: SubmitReply
    model: ModelReply
    def __init__(self, task: _Optional[_Union[Task, _Mapping]] = ..., submitted: _Optional[_Union[SubmitReply, _Mapping]] = ..., model: _Optional[_Union[ModelReply, _Mapping]] = ...) -> None: ...

class StatusRequest(_message.Message):
    __slots__ = ("admin_token",)
    ADMIN_TOKEN_FIELD_NUMBER: _ClassVar[int]
    admin_token: bytes
    def __init__(self, admin_token: _Optional[bytes] = ...) -> None: ...

class StatusReply(_message.Message):
    __slots__ = ("status_json",)
    STATUS_JSON_FIELD_NUMBER: _ClassVar[int]
    status_json: str
    def __init__(self, status_json: _Optional[str] = ...) -> None: ...
