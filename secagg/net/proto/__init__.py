"""Generated gRPC/protobuf modules of ``secagg_net.proto`` (do not edit them by hand).

Regenerate from the repository root with (``grpcio-tools`` is a development-time tool only)::

    python -m grpc_tools.protoc -I. --python_out=. --pyi_out=. --grpc_python_out=. \\
        secagg/net/proto/secagg_net.proto
"""
