#!/usr/bin/env bash
# grammars.sh: fetch, verify and compile the tree-sitter grammars pinned in
# grammars/grammars.lock into one static library, libgrammars.a, cached
# across builds and clones.
#
#   scripts/grammars.sh [--lock FILE]     build (or find) the library
#   scripts/grammars.sh --key             print the cache key and exit
#
# stdout: one line, the directory holding libgrammars.a, licenses/ (one
# LICENSE per package), node-types/ (each grammar's node-types.json), a copy
# of the lock and BUILDINFO. Progress goes to stderr. Exit status 0 on
# success, 1 on any failure (with the reason on stderr).
#
# Environment:
#   LODE_GRAMMAR_CACHE     cache root
#                          (default ${XDG_CACHE_HOME:-$HOME/.cache}/lode/grammars)
#   LODE_GRAMMAR_FALLBACK  root to use when the default cannot be created
#                          (CMake passes a folder in its build tree)
#   LODE_GRAMMAR_JOBS      parallel compiles (default: nproc)
#   CC, AR                 compiler and archiver (default cc, ar)
#
# Cache: <root>/<key>/ where key hashes the lock, this script, the compiler
# and the flags, so any build of the same sources with the same compiler
# reuses it (entries unused for 60 days are pruned). A build happens in
# <root>/.tmp.* and is renamed into place only when complete, under a lock
# (<root>/.lock) that serialises concurrent builds; an interrupted build
# never leaves a partial cache. Verified tarballs are kept in <root>/dist/
# (npm's own cache lives in the temp folder), so a rebuild (say, for a new
# compiler) needs no network.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
script="$here/$(basename "${BASH_SOURCE[0]}")"
lock="$here/../grammars/grammars.lock"
mode=build

while [ $# -gt 0 ]; do
	case "$1" in
	--lock) lock=$2; shift 2 ;;
	--key) mode=key; shift ;;
	-h|--help) sed -n '2,30p' "$script" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "grammars: unknown argument: $1" >&2; exit 1 ;;
	esac
done

CC=${CC:-cc}
AR=${AR:-ar}
CFLAGS_GRAMMAR="-O2 -std=c11 -fPIC"
jobs=${LODE_GRAMMAR_JOBS:-$(nproc 2>/dev/null || echo 2)}
t0=$(date +%s)

say() { echo "grammars: $*" >&2; }
die() { echo "grammars: error: $*" >&2; exit 1; }

[ -r "$lock" ] || die "cannot read lock file $lock"
command -v sha256sum >/dev/null || die "sha256sum not found (coreutils)"
# shellcheck disable=SC2086
command -v ${CC%% *} >/dev/null || die "C compiler '$CC' not found"

# --- the lock ---------------------------------------------------------------
specs=() integrities=() symbols=() srcdirs=()
while read -r spec integ syms dirs rest; do
	case "$spec" in ''|'#'*) continue ;; esac
	if [ -z "$dirs" ] || [ -n "$rest" ]; then
		die "$lock: malformed line for '$spec' (want: package@version integrity symbols src)"
	fi
	case "$integ" in sha512-*) ;; *) die "$lock: $spec: integrity must be sha512-<base64>" ;; esac
	case "$spec" in ?*@?*) ;; *) die "$lock: $spec: want package@version" ;; esac
	ns=$(tr ',' '\n' <<<"$syms" | wc -l)
	nd=$(tr ',' '\n' <<<"$dirs" | wc -l)
	[ "$ns" -eq "$nd" ] || die "$lock: $spec: $ns symbols but $nd src folders"
	specs+=("$spec") integrities+=("$integ") symbols+=("$syms") srcdirs+=("$dirs")
done <"$lock"
[ ${#specs[@]} -gt 0 ] || die "$lock lists no grammars"

# --- the cache key ------------------------------------------------------------
# shellcheck disable=SC2086
key=$( {
	cat "$lock" "$script"
	# without argv[0], so that cc, gcc and gcc-12 share a key
	$CC --version 2>&1 | sed '1s/^[^ ]* //'
	$CC -dumpmachine 2>&1
	echo "$CFLAGS_GRAMMAR"
} | sha256sum | cut -c1-16)
if [ "$mode" = key ]; then
	echo "$key"
	exit 0
fi

root=${LODE_GRAMMAR_CACHE:-${XDG_CACHE_HOME:-${HOME:-/nonexistent}/.cache}/lode/grammars}
if ! mkdir -p "$root" 2>/dev/null || [ ! -w "$root" ]; then
	[ -n "${LODE_GRAMMAR_FALLBACK:-}" ] || die "cannot create cache folder $root (set LODE_GRAMMAR_CACHE)"
	say "cannot write $root, using $LODE_GRAMMAR_FALLBACK"
	root=$LODE_GRAMMAR_FALLBACK
	mkdir -p "$root" || die "cannot create cache folder $root"
fi
root=$(cd "$root" && pwd)
out="$root/$key"

if [ -f "$out/libgrammars.a" ]; then
	touch "$out" 2>/dev/null || true # in use: see the pruning below
	say "cached $out"
	echo "$out"
	exit 0
fi

# One build at a time per cache root; whoever waited may find it done.
if command -v flock >/dev/null; then
	exec 9>"$root/.lock"
	if ! flock -n 9; then
		say "waiting for another grammar build ($root/.lock)"
		flock 9
	fi
	if [ -f "$out/libgrammars.a" ]; then
		say "cached $out"
		echo "$out"
		exit 0
	fi
	# Holding the lock, any temp folder is a leftover of a killed build.
	rm -rf "$root"/.tmp.*
fi

tmp=$(mktemp -d "$root/.tmp.$key.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM
mkdir -p "$tmp/out/licenses" "$tmp/out/node-types" "$tmp/src" "$tmp/obj" "$tmp/dl" "$root/dist"
say "building ${#specs[@]} grammar packages into $out ($CC, $jobs jobs)"

# --- fetch and verify -----------------------------------------------------------
# The tarball's name as npm pack writes it: @scope/name@1.0 -> scope-name-1.0.tgz
tgz_name() {
	local spec=$1 name ver
	name=${spec%@*} ver=${spec##*@}
	name=${name#@}
	echo "${name//\//-}-$ver.tgz"
}

# A file's sha512 as npm writes integrity: "sha512-" + base64 of the digest
# (coreutils only: hex digest -> bytes through printf's \x escapes).
integrity_of() {
	local hex
	hex=$(sha512sum "$1" | cut -d' ' -f1)
	# shellcheck disable=SC2001,SC2059 # the format is the digest as \xNN escapes
	echo "sha512-$(printf "$(sed 's/../\\x&/g' <<<"$hex")" | base64 -w0)"
}
matches() { # matches FILE INTEGRITY
	[ "$(integrity_of "$1")" = "$2" ]
}

missing=()
for i in "${!specs[@]}"; do
	f="$root/dist/$(tgz_name "${specs[$i]}")"
	if [ -f "$f" ] && matches "$f" "${integrities[$i]}"; then
		continue
	fi
	missing+=("${specs[$i]}")
done

if [ ${#missing[@]} -gt 0 ]; then
	command -v npm >/dev/null || die "npm not found: install Debian's npm package (needed once to fetch ${#missing[@]} grammar packages)"
	say "fetching ${#missing[@]} packages with npm pack"
	# npm's cache lives in the temp folder: dist/ keeps the tarballs.
	if ! (cd "$tmp/dl" && npm_config_cache="$tmp/npm" npm_config_update_notifier=false \
		npm_config_fund=false npm_config_audit=false \
		npm pack --ignore-scripts --silent "${missing[@]}") >"$tmp/npm.log" 2>&1; then
		cat "$tmp/npm.log" >&2
		die "npm pack failed"
	fi
fi

say "verifying sha512 of ${#specs[@]} tarballs"
for i in "${!specs[@]}"; do
	name=$(tgz_name "${specs[$i]}")
	f="$root/dist/$name"
	if [ -f "$tmp/dl/$name" ]; then
		if ! matches "$tmp/dl/$name" "${integrities[$i]}"; then
			echo "grammars: error: INTEGRITY MISMATCH for ${specs[$i]}" >&2
			echo "  expected $(printf %s "${integrities[$i]}")" >&2
			echo "  got      $(integrity_of "$tmp/dl/$name")" >&2
			die "refusing to build from unverified sources ($lock)"
		fi
		mv -f "$tmp/dl/$name" "$f"
	fi
	[ -f "$f" ] || die "${specs[$i]}: npm pack wrote no $name"
	matches "$f" "${integrities[$i]}" || die "${specs[$i]}: $f does not match its integrity"
done

# --- extract --------------------------------------------------------------------
say "extracting source folders"
for i in "${!specs[@]}"; do
	spec=${specs[$i]}
	f="$root/dist/$(tgz_name "$spec")"
	d="$tmp/src/$i"
	mkdir -p "$d"
	# Only the compiled folders, the shared scanner code and the licence;
	# tarballs also carry prebuilt binaries and wasm (tens of MB).
	re='^package/(common/|LICEN[CS]E[^/]*$|COPYING[^/]*$'
	IFS=, read -r -a dirs <<<"${srcdirs[$i]}"
	for sd in "${dirs[@]}"; do
		re+="|${sd//./\\.}/"
	done
	re+=')'
	tar -tzf "$f" | grep -E "$re" | grep -v -E '(^|/)\.\.(/|$)' >"$d.list" || true
	[ -s "$d.list" ] || die "$spec: no source folders in the tarball"
	tar -xzf "$f" -C "$d" --no-same-owner --no-same-permissions -T "$d.list" ||
		die "$spec: cannot extract $f"
	lic=$(find "$d/package" -maxdepth 1 -type f \( -name 'LICEN[CS]E*' -o -name 'COPYING*' \) | sort | head -1)
	base=${spec%@*}
	base=${base##*/}
	if [ -n "$lic" ]; then
		cp "$lic" "$tmp/out/licenses/$base.LICENSE"
	else
		say "warning: $spec ships no LICENSE file"
	fi
done

# --- compile ------------------------------------------------------------------
: >"$tmp/jobs"
nfiles=0
for i in "${!specs[@]}"; do
	spec=${specs[$i]}
	IFS=, read -r -a dirs <<<"${srcdirs[$i]}"
	IFS=, read -r -a syms <<<"${symbols[$i]}"
	for k in "${!dirs[@]}"; do
		sd=${dirs[$k]} sym=${syms[$k]}
		s="$tmp/src/$i/package/$sd"
		[ -f "$s/parser.c" ] || die "$spec: $sd/parser.c missing"
		abi=$(sed -n 's/^#define LANGUAGE_VERSION \([0-9]*\).*/\1/p' "$s/parser.c" | head -1)
		case "$abi" in
		13|14) ;;
		*) die "$spec: $sd/parser.c is tree-sitter ABI '${abi:-?}'; libtree-sitter 0.20 loads 13 and 14 only" ;;
		esac
		[ -f "$s/scanner.cc" ] && [ ! -f "$s/scanner.c" ] && die "$spec: $sd has a C++ scanner, unsupported"
		# Exactly parser.c and scanner.c: other .c files in src/ are
		# included by these (yaml's schema) or are alternatives (swift's
		# parser_abi13.c).
		for c in parser.c scanner.c; do
			[ -f "$s/$c" ] || continue
			# size first, so that the biggest files start first
			printf '%s %s %s\n' "$(stat -c %s "$s/$c")" "$s/$c" "$tmp/obj/${sym}_${c%.c}.o" >>"$tmp/jobs"
			nfiles=$((nfiles + 1))
		done
		# each grammar's node-types.json, for reference (indexer/lang.c)
		[ -f "$s/node-types.json" ] && cp "$s/node-types.json" "$tmp/out/node-types/${sym#tree_sitter_}.json"
	done
done

say "compiling $nfiles files ($CC $CFLAGS_GRAMMAR, $jobs in parallel)"
export CC CFLAGS_GRAMMAR
# shellcheck disable=SC2016
if ! sort -rn "$tmp/jobs" | cut -d' ' -f2- | xargs -P "$jobs" -L 1 sh -c '
	src=$0 obj=$1
	rel=${src#*/package/}
	echo "grammars:   cc ${obj##*/}" >&2
	if ! $CC $CFLAGS_GRAMMAR -I"${src%/*}" -c "$src" -o "$obj" 2>"$obj.log"; then
		echo "grammars: error: compiling $rel failed:" >&2
		cat "$obj.log" >&2
		exit 255
	fi'; then
	die "compilation failed"
fi

say "archiving libgrammars.a"
"$AR" rcs "$tmp/out/libgrammars.a" "$tmp"/obj/*.o || die "$AR failed"
# Every symbol the lock promises must be defined.
defined=$(nm -g --defined-only "$tmp/out/libgrammars.a" 2>/dev/null | awk '$2 == "T" { print $3 }') ||
	die "nm failed"
for i in "${!specs[@]}"; do
	IFS=, read -r -a syms <<<"${symbols[$i]}"
	for s in "${syms[@]}"; do
		grep -qx "$s" <<<"$defined" || die "${specs[$i]}: symbol $s is not defined by its sources"
	done
done

cp "$lock" "$tmp/out/grammars.lock"
{
	echo "key $key"
	echo "cc $CC"
	echo "cc_version $($CC --version 2>&1 | head -1)"
	echo "cflags $CFLAGS_GRAMMAR"
	echo "built $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "seconds $(($(date +%s) - t0))"
} >"$tmp/out/BUILDINFO"

# Atomic publish: the key folder appears complete or not at all.
if ! mv -T "$tmp/out" "$out" 2>/dev/null; then
	[ -f "$out/libgrammars.a" ] || die "cannot move the build into $out"
fi
# Entries unused for 60 days belong to old locks or compilers.
find "$root" -mindepth 1 -maxdepth 1 -type d -regextype posix-extended -regex '.*/[0-9a-f]{16}' \
	-mtime +60 -exec rm -rf {} + 2>/dev/null || true
say "built $out in $(($(date +%s) - t0)) s"
echo "$out"
