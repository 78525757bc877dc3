#!/usr/bin/env bash
# Sets up a Debian 12 machine for dsv4 and builds it.
#   ./setup.sh            install the Debian packages, build Release into build/
#   ./setup.sh debug      ... Debug into build-debug/
#   ./setup.sh asan       ... ASan+UBSan (Debug info, -O1) into build-asan/
#   ./setup.sh fuzz       ... libFuzzer targets with clang into build-fuzz/
# Everything comes from Debian's packages; nothing is downloaded from anywhere else.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")"

PACKAGES=(
  build-essential cmake ninja-build pkg-config git
  libvulkan-dev vulkan-validationlayers mesa-vulkan-drivers
  glslang-tools spirv-tools
  libcli11-dev nlohmann-json3-dev libpcre2-dev
  libgtest-dev libgmock-dev googletest libbenchmark-dev
  clang libclang-rt-14-dev
)

install_packages() {
  local missing=()
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "setup.sh: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# configure_and_build DIR TARGET [cmake args...]
configure_and_build() {
  local dir=$1 target=$2; shift 2
  cmake -S . -B "$dir" -G Ninja "$@" >/dev/null
  cmake --build "$dir" --target "$target" -j "$(nproc)"
}

install_packages
case "${1:-release}" in
  release) configure_and_build build all -DCMAKE_BUILD_TYPE=Release ;;
  debug)   configure_and_build build-debug all -DCMAKE_BUILD_TYPE=Debug ;;
  asan)    configure_and_build build-asan all -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDSV4_SANITIZE=ON \
             -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" ;;
  fuzz)    CXX=clang++ configure_and_build build-fuzz fuzzers -DCMAKE_BUILD_TYPE=RelWithDebInfo \
             -DDSV4_FUZZ=ON ;;
  *) echo "usage: ./setup.sh [release|debug|asan|fuzz]" >&2; exit 2 ;;
esac
