# Per-file instruction-set flags. Only these files use AES-NI / VAES / AVX2 instructions; the
# library still runs on any x86-64 (or other) CPU because aes.cpp picks a backend at run time.
if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64|amd64")
  set_source_files_properties(${CMAKE_CURRENT_SOURCE_DIR}/src_cpp/aes_aesni.cpp
    PROPERTIES COMPILE_OPTIONS "-maes;-mssse3;-msse4.1")
  set_source_files_properties(${CMAKE_CURRENT_SOURCE_DIR}/src_cpp/aes_vaes.cpp
    PROPERTIES COMPILE_OPTIONS "-maes;-mavx2;-mvaes")
  set_source_files_properties(${CMAKE_CURRENT_SOURCE_DIR}/src_cpp/quantize_avx2.cpp
    ${CMAKE_CURRENT_SOURCE_DIR}/src_cpp/field_avx2.cpp
    PROPERTIES COMPILE_OPTIONS "-mavx2;-ffp-contract=off")
else()
  message(WARNING "secagg: no hardware AES backend for ${CMAKE_SYSTEM_PROCESSOR}; portable AES only")
endif()
