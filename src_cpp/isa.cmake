# Per-file instruction-set flags: the ONE convention of the core. A kernel that needs an ISA
# extension lives in its own file named after it (*_avx2.cpp, aes_aesni.cpp, aes_vaes.cpp,
# aes_armce.cpp), gets the flags here, and is only called when cpu.cpp reports the feature (and
# the backend is not forced to portable). No other file uses ISA flags or target attributes, so
# the library runs on any CPU of its architecture.
if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64|amd64")
  set_source_files_properties(${CMAKE_CURRENT_SOURCE_DIR}/src_cpp/aes_aesni.cpp
    PROPERTIES COMPILE_OPTIONS "-maes;-mssse3;-msse4.1")
  set_source_files_properties(${CMAKE_CURRENT_SOURCE_DIR}/src_cpp/aes_vaes.cpp
    PROPERTIES COMPILE_OPTIONS "-maes;-mavx2;-mvaes")
  set_source_files_properties(${CMAKE_CURRENT_SOURCE_DIR}/src_cpp/quantize_avx2.cpp
    ${CMAKE_CURRENT_SOURCE_DIR}/src_cpp/field_avx2.cpp
    ${CMAKE_CURRENT_SOURCE_DIR}/src_cpp/aes_bitsliced_avx2.cpp
    ${CMAKE_CURRENT_SOURCE_DIR}/src_cpp/noise_avx2.cpp
    ${CMAKE_CURRENT_SOURCE_DIR}/src_cpp/shamir_avx2.cpp
    PROPERTIES COMPILE_OPTIONS "-mavx2;-ffp-contract=off")
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "aarch64|arm64|ARM64")
  set_source_files_properties(${CMAKE_CURRENT_SOURCE_DIR}/src_cpp/aes_armce.cpp
    PROPERTIES COMPILE_OPTIONS "-march=armv8-a+crypto")
else()
  message(WARNING "secagg: no hardware AES backend for ${CMAKE_SYSTEM_PROCESSOR}; portable AES only")
endif()
