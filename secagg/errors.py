"""One exception hierarchy for the whole package.

Every error the package raises on purpose derives from :class:`SecAggError`. Errors about
bad arguments also derive from the matching built-in (``ValueError``/``TypeError``) so that
generic callers keep working.
"""

from __future__ import annotations


class SecAggError(Exception):
    """Base class of every error raised by ``secagg``."""


# --- configuration and input validation ------------------------------------------------
class ConfigError(SecAggError, ValueError):
    """A parameter is out of range or parameters contradict each other."""


class ModulusError(ConfigError):
    """``modulus_range`` is invalid or too small for clients x ``quantization_range``."""


class InputError(SecAggError, ValueError):
    """An input array or value is malformed."""


class DTypeError(InputError, TypeError):
    """An array has the wrong dtype (floats are never silently cast to integers)."""


class ShapeError(InputError):
    """An array has the wrong shape or length."""


class NonFiniteError(InputError):
    """An update contains NaN or infinity."""


class SeedError(InputError):
    """A seed is not exactly 32 bytes, or a sign is not +1/-1."""


class NativeError(SecAggError, RuntimeError):
    """The native core reported an unexpected failure."""


class DependencyError(SecAggError, ImportError):
    """An optional dependency is missing; the message says how to install it."""


class WorkerError(SecAggError, RuntimeError):
    """A client backend's worker (e.g. a Ray actor hosting simulated clients) died or failed."""


class ClientGroupError(WorkerError):
    """The worker hosting one group of simulated clients died or failed; ``group`` is its index.
    The session it served is over; the backend's next session starts with fresh workers."""

    def __init__(self, message: str, *, group: int) -> None:
        super().__init__(message)
        self.group = group

    def __reduce__(self):  # type: ignore[no-untyped-def]  # the keyword-only field survives pickling
        return (_rebuild_group_error, (str(self), self.group))


def _rebuild_group_error(message: str, group: int) -> ClientGroupError:
    return ClientGroupError(message, group=group)


# --- secret sharing ----------------------------------------------------------------------
class ShamirError(SecAggError, ValueError):
    """Shares are invalid, inconsistent, duplicated or too few to reconstruct."""


# --- protocol ------------------------------------------------------------------------------
class ProtocolError(SecAggError):
    """A protocol rule was violated."""


class InvalidMessageError(ProtocolError):
    """A message is malformed, truncated, oversized or of the wrong version or type."""


class ReplayError(InvalidMessageError):
    """A message belongs to another session or round, or was already processed."""


class UnknownClientError(ProtocolError):
    """A message names a client id that is not part of this session."""


class AuthenticationError(ProtocolError):
    """A signature or an authenticated ciphertext did not verify."""


class CertificateError(AuthenticationError):
    """An identity certificate is missing, for another key, expired, revoked, from an untrusted
    root, or its revocation list is missing or stale (secagg.net's enrolment authority)."""


class EnrolmentError(ConfigError):
    """The enrolment authority refused a request (no valid token and no operator approval, a
    reused token, an unknown serial number) or its directory is missing or damaged."""


class UnsafeRequestError(ProtocolError):
    """The server asked for something an honest client must never reveal."""


class NoiseFloorError(UnsafeRequestError):
    """A distributed-DP round would hide this client's update under less noise than its own floor
    (``min_noise_multiplier``) guarantees, counting only the contributors it can rely on."""


class ConsistencyError(ProtocolError):
    """Parties were shown different views (e.g. different survivor sets)."""


class ThresholdError(ProtocolError):
    """Fewer than the reconstruction threshold of clients remain; the round aborts."""

    def __init__(self, message: str, *, stage: str | None = None, survivors: int | None = None,
                 threshold: int | None = None) -> None:
        super().__init__(message)
        self.stage = stage
        self.survivors = survivors
        self.threshold = threshold

    def __reduce__(self):  # type: ignore[no-untyped-def]  # keyword-only fields survive pickling
        return _rebuild_threshold_error, (str(self), self.stage, self.survivors, self.threshold)


def _rebuild_threshold_error(message: str, stage: str | None, survivors: int | None,
                             threshold: int | None) -> ThresholdError:
    return ThresholdError(message, stage=stage, survivors=survivors, threshold=threshold)


class IncompatiblePeerError(ProtocolError):
    """The other side speaks another protocol (e.g. Flower's own SecAgg+ mod or workflow)."""


class AbortedError(ProtocolError):
    """The session was aborted; no aggregate is available."""


class DeadlineError(ProtocolError):
    """A reply arrived after its stage's deadline (the server has moved on without it)."""


# --- applications ----------------------------------------------------------------------
class DataError(SecAggError, ValueError):
    """A data file is missing or malformed (the message names file and line)."""


class HEError(SecAggError):
    """A homomorphic-encryption operation failed (wrong context, corrupt ciphertext, ...)."""


class CiphertextError(HEError):
    """An HE message is corrupt, truncated, of the wrong length, or holds no ciphertext."""


class KeyMismatchError(HEError):
    """A ciphertext was made under another encryption context or key."""


class NoiseBudgetError(HEError):
    """An encrypted aggregate cannot be decrypted correctly (noise budget exhausted or garbage)."""


class PrivacyError(ConfigError):
    """Differential-privacy parameters are invalid or cannot be met."""


class CheckpointError(SecAggError):
    """A checkpoint is missing, corrupt or incompatible."""


# --- networked deployment ----------------------------------------------------------------------
class StaleInstanceError(ReplayError):
    """A request from a client process the server does not know as that client's current one
    (the server restarted, or the process is not the one that joined the running session)."""


class DuplicateIdentityError(StaleInstanceError):
    """Two running processes use one client identity; the older one is fenced off."""


class DatabaseLockedError(ConfigError):
    """Another server (or admin command) holds the server database."""


class RegistrationError(ConfigError):
    """The server refused to register a client (e.g. it is configured for another model shape)."""


class TooManyCallsError(ProtocolError):
    """A client has more calls in flight than the server allows one client."""


class ServerUnavailableError(SecAggError, ConnectionError):
    """A server could not be reached or did not answer (``secagg status --server``)."""
