#!/usr/bin/env bash
# setup.sh: install what is missing, build, and run lode or its tests.
#
#   scripts/setup.sh run    release build, then index this repository and search it
#   scripts/setup.sh test   sanitizer build (ASan+UBSan, -Werror), then every test
#
# Works on a fresh Debian bookworm machine as root (or with sudo). Only
# Debian packages are installed; tree-sitter grammars are fetched from the
# npm registry at pinned, integrity-checked versions by the build.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-run}
jobs=$(nproc 2>/dev/null || echo 2)

# Build tools and the libraries lode links (FAISS, libmicrohttpd, libcurl,
# OpenBLAS), plus those the next issues use (utf8proc, PCRE2). The tests
# also drive the search page in headless Chromium.
packages=(
  build-essential cmake ninja-build pkg-config git ca-certificates
  libsqlite3-dev libtree-sitter-dev libjansson-dev libxxhash-dev
  libfaiss-dev libmicrohttpd-dev libcurl4-openssl-dev libopenblas-dev
  libutf8proc-dev libpcre2-dev
)
[ "$mode" = test ] && packages+=(chromium)

install_deps() {
  local missing=()
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
  done
  command -v npm >/dev/null 2>&1 || missing+=(npm)
  if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}" >&2
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

build() { # build DIR CMAKE-ARGS...
  local dir=$1; shift
  cmake -S . -B "$dir" -G Ninja "$@" >/dev/null
  cmake --build "$dir" -j "$jobs"
}

case "$mode" in
  run)
    install_deps
    build build -DCMAKE_BUILD_TYPE=Release -DLODE_TESTS=OFF
    ./build/lode index .
    ./build/lode search -k 5 "parse gitignore patterns with negation"
    ;;
  test)
    install_deps
    build build-test -DCMAKE_BUILD_TYPE=Debug -DLODE_SANITIZE=ON -DLODE_WERROR=ON
    ctest --test-dir build-test --output-on-failure -j "$jobs"
    ;;
  *)
    echo "usage: scripts/setup.sh run|test" >&2
    exit 1
    ;;
esac
