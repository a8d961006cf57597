# Finds LibTorch for clipzs: Debian's CPU LibTorch (libtorch-dev), a PyTorch wheel's LibTorch
# (-DCMAKE_PREFIX_PATH=<venv>/lib/python3.X/site-packages/torch, as scripts/install-torch.sh prints) or
# the LibTorch archive (-DCMAKE_PREFIX_PATH=<libtorch>).
#
# For a CUDA LibTorch it checks, before LibTorch's own config runs (whose failures are cryptic):
#  - a CUDA toolkit is present and its major version equals the one LibTorch was built for;
#  - cuDNN (header and library) is present, in the toolkit or in the wheel's nvidia/cudnn folder;
#  - the GPU architectures are given (CLIPZS_CUDA_ARCHS, default 8.0;9.0), so no device is probed.
# Each failure is one FATAL_ERROR naming what is missing and the command that fixes it.
#
# Sets: CLIPZS_TORCH_ROOT, CLIPZS_TORCH_CUDA (ON/OFF), CLIPZS_TORCH_CUDA_VERSION ("13.0"),
#       CLIPZS_TORCH_LINK: what to link (TORCH_LIBRARIES, plus libtorch_cuda kept by --no-as-needed).

set(CLIPZS_CUDA_ROOT "" CACHE PATH
    "CUDA toolkit to use (default: CMake's search: CUDAToolkit_ROOT, CUDA_PATH, nvcc on PATH, /usr/local/cuda)")
set(CLIPZS_CUDNN_ROOT "" CACHE PATH "cuDNN to use (default: the toolkit's, else the torch wheel's nvidia/cudnn)")
option(CLIPZS_REQUIRE_CUDA "Fail unless the LibTorch found is a CUDA build" OFF)
set(CLIPZS_CUDA_ARCHS "8.0;9.0" CACHE STRING
    "GPU architectures for a CUDA build (compute capabilities; 8.0 = A100, 9.0 = H100/H200)")

# Where is TorchConfig.cmake? Only the prefixes the user gave (and Torch_DIR); Debian's is the fallback.
set(_clipzs_torch_hints)
foreach(_p IN LISTS CMAKE_PREFIX_PATH)
  list(APPEND _clipzs_torch_hints "${_p}" "${_p}/Torch" "${_p}/share/cmake/Torch" "${_p}/lib/cmake/Torch")
endforeach()
if(Torch_DIR)
  list(PREPEND _clipzs_torch_hints "${Torch_DIR}")
endif()
find_path(CLIPZS_TORCH_CONFIG_DIR TorchConfig.cmake HINTS ${_clipzs_torch_hints} NO_DEFAULT_PATH)
if(NOT CLIPZS_TORCH_CONFIG_DIR)
  find_path(CLIPZS_TORCH_CONFIG_DIR TorchConfig.cmake PATH_SUFFIXES cmake/Torch lib/x86_64-linux-gnu/cmake/Torch)
endif()
if(NOT CLIPZS_TORCH_CONFIG_DIR)
  message(FATAL_ERROR
    "clipzs: no LibTorch found.\n"
    "  CPU build (Debian): bash scripts/install-deps.sh   (installs libtorch-dev)\n"
    "  CUDA build: bash scripts/install-torch.sh, then configure with -DCMAKE_PREFIX_PATH=<the path it prints>")
endif()
if(CLIPZS_TORCH_CONFIG_DIR MATCHES "/lib/[^/]+/cmake/Torch$")  # Debian: /usr/lib/<arch>/cmake/Torch
  get_filename_component(CLIPZS_TORCH_ROOT "${CLIPZS_TORCH_CONFIG_DIR}/../../../.." ABSOLUTE)
else()  # <prefix>/share/cmake/Torch (the wheel and the LibTorch archive)
  get_filename_component(CLIPZS_TORCH_ROOT "${CLIPZS_TORCH_CONFIG_DIR}/../../.." ABSOLUTE)
endif()

# A wheel's LibTorch records its CUDA version in version.py, the archive in build-version (+cu130).
set(CLIPZS_TORCH_CUDA OFF)
set(CLIPZS_TORCH_CUDA_VERSION "")
if(EXISTS "${CLIPZS_TORCH_ROOT}/lib/libtorch_cuda.so")
  set(CLIPZS_TORCH_CUDA ON)
  if(EXISTS "${CLIPZS_TORCH_ROOT}/version.py")
    file(STRINGS "${CLIPZS_TORCH_ROOT}/version.py" _clipzs_line REGEX "^cuda[^=]*= *'[0-9.]+'")
    string(REGEX REPLACE ".*'([0-9.]+)'.*" "\\1" CLIPZS_TORCH_CUDA_VERSION "${_clipzs_line}")
  elseif(EXISTS "${CLIPZS_TORCH_ROOT}/build-version")
    file(READ "${CLIPZS_TORCH_ROOT}/build-version" _clipzs_line)
    if(_clipzs_line MATCHES "\\+cu([0-9]+)([0-9])")
      set(CLIPZS_TORCH_CUDA_VERSION "${CMAKE_MATCH_1}.${CMAKE_MATCH_2}")
    endif()
  endif()
  if(NOT CLIPZS_TORCH_CUDA_VERSION)
    message(FATAL_ERROR "clipzs: ${CLIPZS_TORCH_ROOT} is a CUDA LibTorch, but neither version.py nor build-version "
                        "says which CUDA it was built for; reinstall it (bash scripts/install-torch.sh)")
  endif()
endif()

if(CLIPZS_REQUIRE_CUDA AND NOT CLIPZS_TORCH_CUDA)
  message(FATAL_ERROR
    "clipzs: CLIPZS_REQUIRE_CUDA is ON, but the LibTorch found at ${CLIPZS_TORCH_ROOT} has no CUDA "
    "(CMAKE_PREFIX_PATH='${CMAKE_PREFIX_PATH}' holds no CUDA LibTorch).\n"
    "  Install one and configure with the prefix it prints: "
    "-DCMAKE_PREFIX_PATH=\"$(bash scripts/install-torch.sh)\"")
endif()

if(CLIPZS_TORCH_CUDA)
  string(REGEX MATCH "^[0-9]+" _clipzs_torch_cuda_major "${CLIPZS_TORCH_CUDA_VERSION}")
  set(CLIPZS_CUDA_ROOT_NOTE "")
  if(CLIPZS_CUDA_ROOT)
    set(CLIPZS_CUDA_ROOT_NOTE " under CLIPZS_CUDA_ROOT=${CLIPZS_CUDA_ROOT}")
  endif()
  if(CLIPZS_CUDA_ROOT)
    if(EXISTS "${CLIPZS_CUDA_ROOT}/bin/nvcc")
      set(CUDAToolkit_ROOT "${CLIPZS_CUDA_ROOT}")
      set(CMAKE_CUDA_COMPILER "${CLIPZS_CUDA_ROOT}/bin/nvcc")
      find_package(CUDAToolkit QUIET)
    endif()
  else()
    find_package(CUDAToolkit QUIET)
  endif()
  if(NOT CUDAToolkit_FOUND)
    message(FATAL_ERROR
      "clipzs: ${CLIPZS_TORCH_ROOT} is LibTorch built for CUDA ${CLIPZS_TORCH_CUDA_VERSION}, but no CUDA toolkit "
      "was found (nvcc, cudart, cuBLAS${CLIPZS_CUDA_ROOT_NOTE}).\n"
      "  Install the CUDA ${_clipzs_torch_cuda_major} toolkit and give its prefix: -DCLIPZS_CUDA_ROOT=/usr/local/cuda-${_clipzs_torch_cuda_major}.x\n"
      "  or build the CPU variant against Debian's LibTorch: drop CMAKE_PREFIX_PATH (bash scripts/test.sh does both).")
  endif()
  if(NOT CUDAToolkit_VERSION_MAJOR STREQUAL _clipzs_torch_cuda_major)
    message(FATAL_ERROR
      "clipzs: the CUDA toolkit at ${CUDAToolkit_BIN_DIR} is CUDA ${CUDAToolkit_VERSION}, but LibTorch at "
      "${CLIPZS_TORCH_ROOT} was built for CUDA ${CLIPZS_TORCH_CUDA_VERSION}: the majors must agree (two cudart "
      "majors in one process do not work).\n"
      "  Point CMake at a CUDA ${_clipzs_torch_cuda_major} toolkit (-DCUDAToolkit_ROOT=...), or install the torch "
      "wheel built for CUDA ${CUDAToolkit_VERSION_MAJOR} (pin it in scripts/requirements-torch.txt).")
  endif()
  # cuDNN: the toolkit's own copy, else the one the wheel installed beside torch (nvidia/cudnn).
  get_filename_component(_clipzs_site "${CLIPZS_TORCH_ROOT}/.." ABSOLUTE)
  if(CLIPZS_CUDNN_ROOT)
    find_path(CLIPZS_CUDNN_INCLUDE_DIR cudnn.h PATHS "${CLIPZS_CUDNN_ROOT}" PATH_SUFFIXES include NO_DEFAULT_PATH)
    find_library(CLIPZS_CUDNN_LIBRARY NAMES cudnn libcudnn.so.9 PATHS "${CLIPZS_CUDNN_ROOT}" PATH_SUFFIXES lib64 lib
                 NO_DEFAULT_PATH)
  else()
    find_path(CLIPZS_CUDNN_INCLUDE_DIR cudnn.h
              HINTS ${CUDAToolkit_INCLUDE_DIRS} "${_clipzs_site}/nvidia/cudnn/include" PATH_SUFFIXES include)
    find_library(CLIPZS_CUDNN_LIBRARY NAMES cudnn libcudnn.so.9
                 HINTS ${CUDAToolkit_LIBRARY_DIR} "${_clipzs_site}/nvidia/cudnn/lib" PATH_SUFFIXES lib64 lib)
  endif()
  if(NOT CLIPZS_CUDNN_INCLUDE_DIR OR NOT CLIPZS_CUDNN_LIBRARY)
    message(FATAL_ERROR
      "clipzs: cuDNN not found (cudnn.h: ${CLIPZS_CUDNN_INCLUDE_DIR}; libcudnn: ${CLIPZS_CUDNN_LIBRARY}); LibTorch "
      "built for CUDA ${CLIPZS_TORCH_CUDA_VERSION} needs it at run time.\n"
      "  Install it into the toolkit (NVIDIA's cudnn9-cuda-${_clipzs_torch_cuda_major} package), or reinstall the "
      "torch wheel with its dependencies (bash scripts/install-torch.sh, which brings nvidia-cudnn), or give "
      "its prefix: -DCLIPZS_CUDNN_ROOT=...")
  endif()
  set(CAFFE2_USE_CUDNN ON)
  set(CUDNN_INCLUDE_PATH "${CLIPZS_CUDNN_INCLUDE_DIR}" CACHE PATH "cuDNN headers (for LibTorch's config)")
  set(CUDNN_LIBRARY_PATH "${CLIPZS_CUDNN_LIBRARY}" CACHE FILEPATH "cuDNN library (for LibTorch's config)")
  # LibTorch's architecture list: given, never probed from a device (there may be none).
  set(TORCH_CUDA_ARCH_LIST "${CLIPZS_CUDA_ARCHS}")
  # LibTorch's config enables CUDA itself and warns if CMAKE_CUDA_ARCHITECTURES is set; clipzs's own CUDA
  # targets set their CUDA_ARCHITECTURES property from CLIPZS_CUDA_ARCHS instead.
  enable_language(CUDA)
  unset(CMAKE_CUDA_ARCHITECTURES)
  unset(CMAKE_CUDA_ARCHITECTURES CACHE)
  string(REPLACE "." "" CLIPZS_CUDA_ARCHITECTURES "${CLIPZS_CUDA_ARCHS}")
  message(STATUS "clipzs: CUDA LibTorch (CUDA ${CLIPZS_TORCH_CUDA_VERSION}) with toolkit ${CUDAToolkit_VERSION}, "
                 "cuDNN ${CLIPZS_CUDNN_LIBRARY}, architectures ${CLIPZS_CUDA_ARCHS}")
endif()

# LibTorch's config finds its libraries with find_library(... PATHS <prefix>/lib), which searches the
# system first: with Debian's libtorch-dev installed beside a wheel, libc10.so would come from Debian's
# 1.13. Point each at the chosen LibTorch first.
if(NOT CLIPZS_TORCH_ROOT STREQUAL "/usr")
  foreach(_lib IN ITEMS c10 c10_cuda torch)
    set(_var "${_lib}_LIBRARY")
    if(_lib STREQUAL "c10_cuda")
      set(_var C10_CUDA_LIBRARY)
    elseif(_lib STREQUAL "torch")
      set(_var TORCH_LIBRARY)
    endif()
    if(EXISTS "${CLIPZS_TORCH_ROOT}/lib/lib${_lib}.so")
      set(${_var} "${CLIPZS_TORCH_ROOT}/lib/lib${_lib}.so" CACHE FILEPATH "" FORCE)
    endif()
  endforeach()
  # The wheel links kineto (the profiler) into libtorch_cpu.so; its config still looks for a separate
  # libkineto and warns. Name the library that holds it.
  if(NOT EXISTS "${CLIPZS_TORCH_ROOT}/lib/libkineto.a" AND NOT EXISTS "${CLIPZS_TORCH_ROOT}/lib/libkineto.so"
     AND EXISTS "${CLIPZS_TORCH_ROOT}/lib/libtorch_cpu.so")
    set(kineto_LIBRARY "${CLIPZS_TORCH_ROOT}/lib/libtorch_cpu.so" CACHE FILEPATH "" FORCE)
  endif()
endif()

find_package(Torch REQUIRED CONFIG PATHS "${CLIPZS_TORCH_CONFIG_DIR}" NO_DEFAULT_PATH)
set(CLIPZS_TORCH_LINK ${TORCH_LIBRARIES})
if(CLIPZS_TORCH_CUDA)
  # Nothing in clipzs references libtorch_cuda.so directly, so an --as-needed linker would drop it and
  # CUDA would be "not available" at run time: keep it.
  list(APPEND CLIPZS_TORCH_LINK "-Wl,--push-state,--no-as-needed" "${CLIPZS_TORCH_ROOT}/lib/libtorch_cuda.so"
       "-Wl,--pop-state")
endif()
if(NOT CLIPZS_TORCH_ROOT STREQUAL "/usr" AND EXISTS "${CLIPZS_TORCH_ROOT}/lib/libtorch.so")
  # The wheel's libtorch.so is built by a newer gcc and exports copies of libstdc++ functions it linked
  # statically (std::filesystem among them). Loaded before libstdc++.so.6, those copies took the place of
  # the system's for every library in the process, and std::filesystem::remove_all jumped to address 0.
  # Naming libstdc++ first among the needed libraries puts it first in the lookup order.
  add_link_options("LINKER:--push-state,--no-as-needed" "-lstdc++" "LINKER:--pop-state")
endif()
message(STATUS "clipzs: LibTorch ${Torch_VERSION} at ${CLIPZS_TORCH_ROOT}")
