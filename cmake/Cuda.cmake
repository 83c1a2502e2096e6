# The CUDA encoder backend (embed/cuda.cu, embed/cuda_kernels.cu), shared
# by the top-level build and the standalone embed/ build.
#
#   LODE_CUDA        AUTO (the default: when nvcc and cuBLAS are found), ON
#                    (fail without them) or OFF (embed/cuda_stub.c instead).
#   LODE_CUDA_ARCHS  the GPU architectures compiled (CMake CUDA_ARCHITECTURES
#                    syntax). Each entry builds SASS and PTX for it:
#                      80  A100, A30
#                      86  RTX 30xx, A10, A40, RTX A-series
#                      89  RTX 40xx, L4, L40
#                      90  H100, H200 (its PTX lets newer GPUs JIT-compile)
#                    CUDA 13 no longer targets anything below 75.
#
# After include(): LODE_WITH_CUDA is ON or OFF, and lode_embed_cuda(TARGET
# DIR) adds the .cu files of DIR to TARGET and links the CUDA libraries, or
# leaves DIR/cuda_stub.c as TARGET's CUDA functions; lode_cuda_emu_test(ROOT)
# adds embed.test_cuda_emu (the kernels on the CPU, no GPU needed).
include(CheckLanguage)

set(LODE_CUDA AUTO CACHE STRING "CUDA encoder backend: AUTO, ON or OFF")
set_property(CACHE LODE_CUDA PROPERTY STRINGS AUTO ON OFF)
set(LODE_CUDA_ARCHS "80;86;89;90" CACHE STRING "GPU architectures for the CUDA encoder (see cmake/Cuda.cmake)")

set(LODE_WITH_CUDA OFF)
if(NOT LODE_CUDA STREQUAL "OFF")
  if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
    set(CMAKE_CUDA_ARCHITECTURES ${LODE_CUDA_ARCHS})
  endif()
  # nvcc where the toolkit installs it, when it is not on PATH
  find_program(LODE_NVCC nvcc PATHS /usr/local/cuda/bin)
  if(NOT DEFINED CMAKE_CUDA_COMPILER AND NOT DEFINED ENV{CUDACXX} AND LODE_NVCC)
    set(CMAKE_CUDA_COMPILER ${LODE_NVCC})
  endif()
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    enable_language(CXX) # for test_cuda_emu (nvcc needs a host C++ compiler anyway)
    enable_language(CUDA)
    find_package(CUDAToolkit)
    if(CUDAToolkit_FOUND AND TARGET CUDA::cublas AND TARGET CUDA::cudart_static)
      set(LODE_WITH_CUDA ON)
    endif()
  endif()
  if(LODE_CUDA STREQUAL "ON" AND NOT LODE_WITH_CUDA)
    message(FATAL_ERROR "LODE_CUDA=ON but no CUDA compiler with cuBLAS was found (set CMAKE_CUDA_COMPILER)")
  endif()
endif()
if(LODE_WITH_CUDA)
  message(STATUS "lode: CUDA encoder backend: nvcc ${CMAKE_CUDA_COMPILER_VERSION}, archs ${LODE_CUDA_ARCHS}")
else()
  message(STATUS "lode: no CUDA encoder backend (LODE_CUDA=${LODE_CUDA})")
endif()

function(lode_embed_cuda target dir)
  if(NOT LODE_WITH_CUDA)
    return()
  endif()
  file(GLOB cu_srcs CONFIGURE_DEPENDS ${dir}/*.cu)
  set_source_files_properties(${dir}/cuda_stub.c PROPERTIES HEADER_FILE_ONLY ON)
  target_sources(${target} PRIVATE ${cu_srcs})
  set_target_properties(${target} PROPERTIES
    CUDA_ARCHITECTURES "${LODE_CUDA_ARCHS}"
    CUDA_STANDARD 17
    CUDA_STANDARD_REQUIRED ON)
  # the C warning set is C-only (generator expressions elsewhere); nvcc's
  # host compiler gets its own, without -Werror or the sanitizers
  target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CUDA>:-Xcompiler=-Wall,-Wextra>)
  target_compile_definitions(${target} PRIVATE LODE_HAVE_CUDA)
  target_link_libraries(${target} PUBLIC CUDA::cublas CUDA::cublasLt CUDA::cudart_static)
endfunction()

function(lode_cuda_emu_test root)
  if(NOT LODE_WITH_CUDA)
    return()
  endif()
  # the kernels alone, and the whole backend over a fake runtime: both on
  # the CPU (tests/embed/cuda_emu.h); #pragma unroll means nothing to g++
  add_executable(test_cuda_emu ${root}/tests/embed/test_cuda_emu.cpp)
  add_executable(test_cuda_fake ${root}/tests/embed/cuda_fake_main.c ${root}/tests/embed/cuda_fake.cpp)
  target_link_libraries(test_cuda_emu PRIVATE CUDA::cudart_static Threads::Threads)
  target_link_libraries(test_cuda_fake PRIVATE lode_embed Threads::Threads)
  foreach(t test_cuda_emu test_cuda_fake)
    target_include_directories(${t} PRIVATE ${root} ${root}/tests)
    target_include_directories(${t} SYSTEM PRIVATE ${CUDAToolkit_INCLUDE_DIRS})
    # the kernels read fp16 pairs and 16-byte vectors through wider pointers, as CUDA code does
    target_compile_options(${t} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wno-unknown-pragmas -fno-strict-aliasing>)
    set_target_properties(${t} PROPERTIES CXX_STANDARD 17 CXX_STANDARD_REQUIRED ON)
    add_test(NAME embed.${t} COMMAND ${t})
    set_tests_properties(embed.${t} PROPERTIES LABELS "unit;embed" SKIP_RETURN_CODE 77 TIMEOUT 600)
  endforeach()
endfunction()
