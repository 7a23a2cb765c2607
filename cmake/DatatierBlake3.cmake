# Provides the target datatier_blake3: the official BLAKE3 C implementation,
# and datatier_blake3_headers: just its header, for code inside the project
# (tests, tools) that uses the library's internal checksum code.
#
# A system BLAKE3 CMake package (newer Debian's libblake3-dev) is used when one
# exists. Otherwise the C sources Debian 12 ships inside librust-blake3-dev are
# built as an object library that becomes part of libdatatier: the x86-64 SIMD
# kernels in assembly with run-time CPU dispatch, NEON on aarch64, portable C
# elsewhere. Their symbols are hidden so they never leak out of the shared
# library, and nothing about them reaches the installed package.

find_package(BLAKE3 CONFIG QUIET)
if(BLAKE3_FOUND AND TARGET BLAKE3::blake3)
  add_library(datatier_blake3 INTERFACE)
  target_link_libraries(datatier_blake3 INTERFACE BLAKE3::blake3)
  add_library(datatier_blake3_headers INTERFACE)
  target_link_libraries(datatier_blake3_headers INTERFACE BLAKE3::blake3)
  set(DATATIER_BLAKE3_SYSTEM ON)
  message(STATUS "datatier: BLAKE3 from the system package")
  return()
endif()
set(DATATIER_BLAKE3_SYSTEM OFF)

if(NOT DATATIER_BLAKE3_SOURCE_DIR)
  file(GLOB _blake3_candidates LIST_DIRECTORIES true
       /usr/share/cargo/registry/blake3-*/c)
  list(SORT _blake3_candidates COMPARE NATURAL ORDER DESCENDING)
  list(GET _blake3_candidates 0 _blake3_dir)
  set(DATATIER_BLAKE3_SOURCE_DIR "${_blake3_dir}" CACHE PATH
      "Directory holding the official BLAKE3 C sources (blake3.c, blake3.h)")
endif()
if(NOT EXISTS "${DATATIER_BLAKE3_SOURCE_DIR}/blake3.h")
  message(FATAL_ERROR
    "datatier: the BLAKE3 C sources were not found. Install librust-blake3-dev "
    "(scripts/install-deps.sh) or set DATATIER_BLAKE3_SOURCE_DIR.")
endif()
message(STATUS "datatier: BLAKE3 from ${DATATIER_BLAKE3_SOURCE_DIR}")

set(_b3 "${DATATIER_BLAKE3_SOURCE_DIR}")
add_library(datatier_blake3 OBJECT
  ${_b3}/blake3.c ${_b3}/blake3_dispatch.c ${_b3}/blake3_portable.c)
target_include_directories(datatier_blake3 SYSTEM PUBLIC $<BUILD_INTERFACE:${_b3}>)
add_library(datatier_blake3_headers INTERFACE)
target_include_directories(datatier_blake3_headers SYSTEM INTERFACE $<BUILD_INTERFACE:${_b3}>)
set_target_properties(datatier_blake3 PROPERTIES
  POSITION_INDEPENDENT_CODE ON
  C_VISIBILITY_PRESET hidden)

if(CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64|amd64)$" AND NOT WIN32)
  enable_language(ASM)
  target_sources(datatier_blake3 PRIVATE
    ${_b3}/blake3_sse2_x86-64_unix.S
    ${_b3}/blake3_sse41_x86-64_unix.S
    ${_b3}/blake3_avx2_x86-64_unix.S
    ${_b3}/blake3_avx512_x86-64_unix.S)
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "^(aarch64|arm64)$")
  target_sources(datatier_blake3 PRIVATE ${_b3}/blake3_neon.c)
  target_compile_definitions(datatier_blake3 PRIVATE BLAKE3_USE_NEON=1)
else()
  target_compile_definitions(datatier_blake3 PRIVATE
    BLAKE3_NO_SSE2 BLAKE3_NO_SSE41 BLAKE3_NO_AVX2 BLAKE3_NO_AVX512)
endif()
