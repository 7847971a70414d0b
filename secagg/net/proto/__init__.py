"""Generated gRPC/protobuf modules of ``secagg_net.proto`` (do not edit them by hand).

Regenerate with ``bash secagg/net/proto/regenerate.sh``: it pins the generator (grpcio-tools
1.66.2, protobuf gencode 5.27.2) so that the code runs on every protobuf from 5.27.2 to 7.x and
every grpcio from 1.66.2, i.e. both alone and beside Flower (whose flwr pins protobuf < 7).
"""
