#!/usr/bin/env bash
# Regenerate the checked-in gRPC/protobuf modules from secagg_net.proto.
#
# The generator is pinned to grpcio-tools 1.66.2 (it bundles protoc for protobuf 5.27.2): the
# oldest generator whose code checks both runtimes itself (protobuf's ValidateProtobufRuntimeVersion,
# and a RuntimeError for a too-old grpcio). Generated code runs on any runtime at least as new as
# the generator (protobuf 5.27.2 .. 7.x, grpcio >= 1.66.2), so it fits both `secagg[net]` alone and
# beside Flower (flwr pins protobuf < 7). Keep pyproject's `net` and `test` pins at these floors.
#
# Usage (from anywhere): bash secagg/net/proto/regenerate.sh   (needs python3 and ruff on PATH)
set -euo pipefail
cd "$(dirname "$0")/../../.."
tools="$(mktemp -d)"
trap 'rm -rf "$tools"' EXIT
python3 -m venv "$tools/venv"
"$tools/venv/bin/pip" install --quiet "grpcio-tools==1.66.2" "protobuf==5.27.2"
"$tools/venv/bin/python" -m grpc_tools.protoc -I. --python_out=. --pyi_out=. --grpc_python_out=. \
    secagg/net/proto/secagg_net.proto
ruff check --quiet --fix secagg/net/proto  # import order and f-strings only; the code is unchanged
grep -q "Protobuf Python Version: 5.27.2" secagg/net/proto/secagg_net_pb2.py
grep -q "GRPC_GENERATED_VERSION = '1.66.2'" secagg/net/proto/secagg_net_pb2_grpc.py
echo "regenerated secagg/net/proto/secagg_net_pb2{,_grpc}.py{,i}"
