# The CUDA backend's device code (src/nn/cuda_*.cu), included from
# CMakeLists.txt once the layer libraries exist. Its C side (src/nn/cuda.c,
# src/nn/cuda_backend.c) is part of the nn layer in every build.
#
#   -DEISNET_CUDA=AUTO  (default) build it when a CUDA compiler and the
#                       toolkit's cuBLAS are found, else a CPU-only build
#   -DEISNET_CUDA=ON    build it or fail
#   -DEISNET_CUDA=OFF   never
#   -DCMAKE_CUDA_ARCHITECTURES=...  the GPUs to compile for (default 90:
#                       Hopper code, plus its PTX, which newer GPUs compile
#                       when loading); nvcc 13 accepts 75 and newer
#
# The library's C code finds out through EISNET_HAVE_CUDA; without it,
# src/nn/cuda.c answers "not built into this eisnet".

set(EISNET_CUDA AUTO CACHE STRING "Build the CUDA backend: ON, OFF or AUTO")
set_property(CACHE EISNET_CUDA PROPERTY STRINGS ON OFF AUTO)
string(TOUPPER "${EISNET_CUDA}" eisnet_cuda_mode)
if(eisnet_cuda_mode MATCHES "^(1|TRUE|YES)$")
  set(eisnet_cuda_mode ON)
elseif(eisnet_cuda_mode MATCHES "^(0|FALSE|NO)$")
  set(eisnet_cuda_mode OFF)
endif()
if(NOT eisnet_cuda_mode MATCHES "^(ON|OFF|AUTO)$")
  message(FATAL_ERROR "EISNET_CUDA is '${EISNET_CUDA}': use ON, OFF or AUTO")
endif()

set(EISNET_HAVE_CUDA OFF)
if(NOT eisnet_cuda_mode STREQUAL "OFF")
  # set before the language is enabled: CMake would otherwise ask the
  # compiler for its default, which needs no GPU but may not be what runs
  if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES OR CMAKE_CUDA_ARCHITECTURES STREQUAL "")
    set(CMAKE_CUDA_ARCHITECTURES 90 CACHE STRING "CUDA architectures of the CUDA backend")
  endif()
  include(CheckLanguage)
  check_language(CUDA)
  set(eisnet_cuda_why "")
  if(NOT CMAKE_CUDA_COMPILER)
    set(eisnet_cuda_why "no working CUDA compiler (nvcc) found")
  else()
    find_package(CUDAToolkit QUIET)
    if(NOT CUDAToolkit_FOUND OR NOT TARGET CUDA::cublas OR NOT TARGET CUDA::cudart_static)
      set(eisnet_cuda_why "the CUDA toolkit (cudart, cuBLAS) was not found")
    endif()
  endif()
  if(eisnet_cuda_why STREQUAL "")
    enable_language(CUDA)
    set(EISNET_HAVE_CUDA ON)
  elseif(eisnet_cuda_mode STREQUAL "ON")
    message(FATAL_ERROR "EISNET_CUDA=ON but ${eisnet_cuda_why}; install the CUDA toolkit or configure with -DEISNET_CUDA=OFF")
  else()
    message(STATUS "eisnet: CUDA backend off: ${eisnet_cuda_why}")
  endif()
endif()

if(EISNET_HAVE_CUDA)
  file(GLOB EISNET_CUDA_SOURCES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/src/nn/cuda_*.cu)
  add_library(eisnet_cuda_obj OBJECT ${EISNET_CUDA_SOURCES})
  target_include_directories(eisnet_cuda_obj PRIVATE ${CMAKE_SOURCE_DIR}/include ${CMAKE_SOURCE_DIR}/src/core
    ${CMAKE_SOURCE_DIR}/src/nn)
  target_link_libraries(eisnet_cuda_obj PRIVATE CUDA::cudart_static CUDA::cublas)
  # cuBLAS is opened at run time (src/nn/cuda_device.cu): its soname first,
  # then the toolkit's directory found here
  target_compile_definitions(eisnet_cuda_obj PRIVATE EISNET_CUBLAS_DIR="${CUDAToolkit_LIBRARY_DIR}")
  set_target_properties(eisnet_cuda_obj PROPERTIES POSITION_INDEPENDENT_CODE ON
    CUDA_STANDARD 17 CUDA_STANDARD_REQUIRED ON)
  # The directory's options (-Wall, -O3, the sanitizers) are C compiler
  # options that nvcc refuses or would pass to device code: this target gets
  # its own. No FMA contraction (-fmad=false), IEEE division and square root:
  # the element-wise results then equal the CPU's (which compiles without
  # contraction in ISO C mode); the products are cuBLAS's anyway.
  set_property(TARGET eisnet_cuda_obj PROPERTY COMPILE_OPTIONS
    -fmad=false -prec-div=true -prec-sqrt=true -Xcompiler=-Wall,-Wextra
    $<$<CONFIG:Release>:-O3>)
  # Programs that link the libraries link with the C compiler as before (the
  # runtime comes as CUDA::cudart_static): nvcc as the linker would be given
  # the C link options (the sanitizers), which it does not know.
  set(CMAKE_CUDA_LINKER_PREFERENCE_PROPAGATES OFF)
  # every library that holds the nn layer gets the device objects; everything
  # that links eisnet_deps gets the CUDA libraries and EISNET_HAVE_CUDA
  target_link_libraries(eisnet_deps INTERFACE CUDA::cudart_static ${CMAKE_DL_LIBS})
  target_compile_definitions(eisnet_deps INTERFACE EISNET_HAVE_CUDA=1)
  foreach(lib eisnet_nn eisnet eisnet_shared)
    if(TARGET ${lib})
      target_sources(${lib} PRIVATE $<TARGET_OBJECTS:eisnet_cuda_obj>)
      set_target_properties(${lib} PROPERTIES LINKER_LANGUAGE C)
    endif()
  endforeach()
  # targets made before the language was enabled: CMake wants the property set
  set(eisnet_early_targets eisnet eisnet_shared)
  foreach(layer ${EISNET_LAYERS})
    list(APPEND eisnet_early_targets eisnet_${layer} eisnet_${layer}_obj)
  endforeach()
  foreach(lib ${eisnet_early_targets})
    if(TARGET ${lib})
      set_target_properties(${lib} PROPERTIES CUDA_ARCHITECTURES "${CMAKE_CUDA_ARCHITECTURES}")
    endif()
  endforeach()
  message(STATUS "eisnet: CUDA backend on (nvcc ${CMAKE_CUDA_COMPILER_VERSION}, architectures ${CMAKE_CUDA_ARCHITECTURES})")
endif()
