# Provides the target datatier_blake3: the official BLAKE3 C implementation,
# and datatier_blake3_headers: just its header, for code inside the project
# (tests, tools) that uses the library's internal checksum code.
#
# A system BLAKE3 CMake package (newer Debian's libblake3-dev) is used when one
# exists. Otherwise the C sources Debian 12 ships inside librust-blake3-dev are
# built as an object library that becomes part of libdatatier: the x86-64 SIMD
# kernels in assembly with run-time CPU dispatch, NEON on aarch64, portable C
# elsewhere. Their symbols are hidden so they never leak out of the shared
# library, and nothing about them reaches the installed package. They are also
# renamed (blake3_hasher_init -> datatier_blake3_hasher_init, ...), so that
# libdatatier.a can be linked into a program that has a BLAKE3 of its own.

# Lets `target`, a program of the project that calls the official BLAKE3 C API
# itself (a test or benchmark comparing against it), do so: the header and
# names libdatatier's BLAKE3 is built with, and, where libdatatier is a shared
# library that hides those functions, BLAKE3's objects of its own.
function(datatier_link_official_blake3 target)
  if(DATATIER_BLAKE3_SYSTEM)
    target_link_libraries(${target} PRIVATE datatier_blake3)
    return()
  endif()
  target_link_libraries(${target} PRIVATE datatier_blake3_headers)
  get_target_property(_datatier_type datatier TYPE)
  if(NOT _datatier_type STREQUAL "STATIC_LIBRARY")
    target_sources(${target} PRIVATE $<TARGET_OBJECTS:datatier_blake3>)
  endif()
endfunction()

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

# Every global symbol the bundled sources define, from `nm -g --defined-only`
# of the objects built from BLAKE3 1.3.1: x86-64 (C files and .S kernels),
# aarch64 (with blake3_neon.c) and portable C. Each NAME is compiled as
# datatier_NAME, in the BLAKE3 objects and in every project source that
# includes blake3.h or blake3_impl.h (through datatier_blake3_headers), so the
# two always agree. The x86-64 .S files are run through the C preprocessor and
# also define each kernel as _NAME, the spelling Apple's assembler wants; as
# the preprocessor sees _NAME as another identifier, the assembly gets
# _NAME=_datatier_NAME as well. A BLAKE3 release that adds a symbol needs it
# added here; the test blake3_symbols_prefixed fails until it is.
set(DATATIER_BLAKE3_SYMBOLS
  blake3_version
  blake3_hasher_init
  blake3_hasher_init_keyed
  blake3_hasher_init_derive_key
  blake3_hasher_init_derive_key_raw
  blake3_hasher_update
  blake3_hasher_finalize
  blake3_hasher_finalize_seek
  blake3_hasher_reset
  blake3_compress_in_place
  blake3_compress_xof
  blake3_hash_many
  blake3_simd_degree
  blake3_compress_in_place_portable
  blake3_compress_xof_portable
  blake3_hash_many_portable
  blake3_compress_in_place_sse2
  blake3_compress_xof_sse2
  blake3_hash_many_sse2
  blake3_compress_in_place_sse41
  blake3_compress_xof_sse41
  blake3_hash_many_sse41
  blake3_hash_many_avx2
  blake3_compress_in_place_avx512
  blake3_compress_xof_avx512
  blake3_hash_many_avx512
  blake3_hash4_neon
  blake3_hash_many_neon)
set(_b3_renames "")
set(_b3_asm_renames "")
foreach(_name IN LISTS DATATIER_BLAKE3_SYMBOLS)
  list(APPEND _b3_renames "${_name}=datatier_${_name}")
  list(APPEND _b3_asm_renames "_${_name}=_datatier_${_name}")
endforeach()

set(_b3 "${DATATIER_BLAKE3_SOURCE_DIR}")
add_library(datatier_blake3 OBJECT
  ${_b3}/blake3.c ${_b3}/blake3_dispatch.c ${_b3}/blake3_portable.c)
target_include_directories(datatier_blake3 SYSTEM PUBLIC $<BUILD_INTERFACE:${_b3}>)
target_compile_definitions(datatier_blake3 PRIVATE
  ${_b3_renames} "$<$<COMPILE_LANGUAGE:ASM>:${_b3_asm_renames}>")
add_library(datatier_blake3_headers INTERFACE)
target_include_directories(datatier_blake3_headers SYSTEM INTERFACE $<BUILD_INTERFACE:${_b3}>)
target_compile_definitions(datatier_blake3_headers INTERFACE ${_b3_renames})
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
