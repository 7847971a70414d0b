"""Atheris fuzz target for the Python decoders of untrusted bytes (run by .ci/fuzz).

The first input byte picks the decoder (decoders.py), the rest is its input: a protocol message
(msgpack), a net Task (protobuf) whose request is a message, encoded Shamir shares, or a bit-packed
vector. A decoder may refuse input only with the specific secagg.errors class it documents (or
protobuf's DecodeError); any other exception is a bug and stops the fuzzer with the crash input.
Usage: python tests/fuzz/fuzz_decoders.py [libFuzzer flags] CORPUS_DIR...
"""

from __future__ import annotations

import sys
from pathlib import Path

import atheris

with atheris.instrument_imports():
    import msgpack  # noqa: F401

    import secagg.core.shamir  # noqa: F401
    import secagg.net.proto.secagg_net_pb2  # noqa: F401
    import secagg.protocol.messages  # noqa: F401
    import secagg.protocol.packing  # noqa: F401

sys.path.insert(0, str(Path(__file__).resolve().parent))
from decoders import decode_one  # noqa: E402

if __name__ == "__main__":
    atheris.Setup(sys.argv, decode_one)
    atheris.Fuzz()
