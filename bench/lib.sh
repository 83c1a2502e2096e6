# bench/lib.sh: shared by the Linux-tree benchmarks (sourced, not run).
#
#   linux_tree        extract Debian's linux-source-6.1 once into
#                     $LODE_BENCH_DIR (default /tmp/lode-bench); sets $work, $src
#   warm              read the whole tree (warm page cache for every tool alike)
#   timed NAME CMD..  run CMD; wall seconds and peak RSS (KiB) into
#                     $NAME_s / $NAME_kb, stdout into $work/NAME.out

linux_tree() {
  work=${LODE_BENCH_DIR:-/tmp/lode-bench}
  src=$work/linux-source-6.1
  mkdir -p "$work"
  local need=() p
  for p in linux-source-6.1 time "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || need+=("$p")
  done
  if [ ${#need[@]} -gt 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  fi
  if [ ! -d "$src" ]; then
    echo "extracting the kernel source into $work ..." >&2
    tar -xf /usr/src/linux-source-6.1.tar.xz -C "$work"
  fi
  # Debian's packaging appends "/*" and "!/debian/" to the tree's top-level
  # .gitignore, which ignores the whole kernel (git agrees). Drop those two
  # lines so that lode indexes what a kernel checkout would hold.
  sed -i '/^\/\*$/d; /^!\/debian\/$/d' "$src/.gitignore"
}

warm() { find "$src" -type f -print0 | xargs -0 cat > /dev/null; }

timed() {
  local name=$1; shift
  local log=$work/$name.time
  /usr/bin/time -f '%e %M' -o "$log" "$@" > "$work/$name.out" 2> "$work/$name.err"
  read -r secs kb < "$log"
  printf -v "${name}_s" '%s' "$secs"
  printf -v "${name}_kb" '%s' "$kb"
}
