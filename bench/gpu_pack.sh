#!/usr/bin/env bash
# bench/gpu_pack.sh: pack what bench/gpu_session.sh needs on a GPU machine
# that has the CUDA driver but none of lode's Debian libraries: the lode
# binary and gguf_make_bert from a Release build made here, every shared
# library they load (except the C library itself and CUDA's, which the
# device has), and a slice of the
# Linux tree to index — one xz tarball under the device's carry limit.
#
#   bench/gpu_pack.sh [BUILD_DIR] [OUT]     (defaults: build, build-gpu/lode-gpu.tar.xz)
#
# BUILD_DIR: a Release build (cmake -DCMAKE_BUILD_TYPE=Release), with CUDA
# when the session is to index on the GPU. The tree slice is LINUX_DIRS
# (default: kernel mm fs) of Debian's linux-source-6.1, installed here if
# missing (bench/lib.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(realpath "${1:-$here/../build}")
out=${2:-$here/../build-gpu/lode-gpu.tar.xz}
dirs=${LINUX_DIRS:-kernel mm fs}
[ -x "$build/lode" ] && [ -x "$build/tests/gguf_make_bert" ] ||
  { echo "gpu_pack: build $build first (lode and tests/gguf_make_bert)" >&2; exit 1; }
. "$here/lib.sh"
linux_tree
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/pack/bin" "$stage/pack/lib" "$stage/pack/linux" "$(dirname "$out")"
strip -o "$stage/pack/bin/lode" "$build/lode"
strip -o "$stage/pack/bin/gguf_make_bert" "$build/tests/gguf_make_bert"
# every library the two programs load, but glibc's own (the machine has them, and
# they must match its dynamic loader)
for lib in $(ldd "$build/lode" "$build/tests/gguf_make_bert" | awk '$3 ~ /^\// {print $3}' | sort -u); do
  case $(basename "$lib") in
    libc.so.*|libm.so.*|libpthread.so.*|libdl.so.*|librt.so.*|libresolv.so.*|ld-linux*) continue ;;
    libcuda.so.*) continue ;; # the driver's: it must be the machine's own
    libcublas*|libcudart*) continue ;; # the device's CUDA toolkit has them (and they are ~700 MB)
  esac
  cp -L "$lib" "$stage/pack/lib/"
done
for d in $dirs; do
  mkdir -p "$stage/pack/linux/$(dirname "$d")"
  cp -r "$src/$d" "$stage/pack/linux/$d"
done
git -C "$here/.." rev-parse HEAD > "$stage/pack/COMMIT"
tar -C "$stage" -cJf "$out" pack
echo "gpu_pack: $out ($(du -h "$out" | cut -f1)): lode $(cat "$stage/pack/COMMIT" | cut -c1-12)," \
  "$(ls "$stage/pack/lib" | wc -l) libraries, linux/{$dirs} ($(find "$stage/pack/linux" -type f | wc -l) files)" >&2
