"""The primitives, over the native ``secagg._core``: they know nothing of the protocol.

``prg`` (the AES-CTR mask generator and its contract), ``quantize``, ``masking`` (the fused
quantize(+noise)-and-mask kernels, sums and unmasking), ``shamir``, ``crypto`` (X25519, HKDF,
AES-GCM, Ed25519 from ``cryptography``), ``reference`` (a slow numpy model of the kernels, for
tests and benchmarks) and ``clib`` (where the C ABI library and header are installed).
"""
