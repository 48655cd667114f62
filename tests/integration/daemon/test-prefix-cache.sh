#!/bin/bash
# One KV cache for every client, through D-Bus: a second request behind the same long system
# prompt reuses the first one's KV (tokens_cached) and answers exactly like the same request run
# cold with cache_scope private; another scope reuses nothing; Stats counts hits.
# Usage: test-prefix-cache.sh GEMMAD SMALL_MODEL LONG_MODEL
source "$(dirname "$0")/lib.sh"

start_bus
start_gemmad "$SMALL_MODEL"

system=$(printf 'Rewrite the text below in plain words, keep every fact. %.0s' $(seq 40))
# gen QUESTION EXTRA-OPTION-COUNT [KEY TYPE VALUE]...: prints "tokens_prompt tokens_cached" on
# one line and the answer text on the next.
gen() {
        local q=$1 n=$2
        shift 2
        busctl --address="$DBUS_SESSION_BUS_ADDRESS" --json=short --timeout=300 call org.gemmad.Gemmad1 \
                /org/gemmad/Gemmad1 org.gemmad.Gemmad1.Manager Generate 'sa{sv}' "$q" $((3 + n)) \
                system s "$system" max_tokens u 24 seed t 11 "$@" |
                /usr/bin/python3 -c 'import json, sys
d = json.load(sys.stdin)["data"]
print(d[1]["tokens_prompt"]["data"], d[1]["tokens_cached"]["data"])
print(d[0])'
}

check "client 1, cold"
gen "First question: what is a pipe?" 0 > "$DIR/a"
read -r prompt cached < "$DIR/a"
[ "$cached" = 0 ] || fail "a cold request reported $cached cached tokens"
[ "$prompt" -gt 300 ] || fail "the system prompt is only $prompt tokens"
ok "$prompt prompt tokens, none cached"

check "client 2, another question behind the same system prompt"
gen "Second question: what is a socket?" 0 > "$DIR/b"
read -r prompt_b cached_b < "$DIR/b"
[ "$cached_b" -gt 0 ] || fail "nothing was reused"
[ $((cached_b % 32)) = 0 ] || fail "$cached_b cached tokens is not whole 32-position pages"
[ "$cached_b" -lt "$prompt_b" ] || fail "$cached_b cached of $prompt_b: at least the question must be computed"
ok "$cached_b of $prompt_b prompt tokens from the cache"

check "the same request cold and private answers the same"
gen "Second question: what is a socket?" 1 cache_scope s private > "$DIR/c"
read -r prompt_c cached_c < "$DIR/c"
[ "$cached_c" = 0 ] || fail "a private request used $cached_c cached tokens"
tail -n +2 "$DIR/b" > "$DIR/b.text"
tail -n +2 "$DIR/c" > "$DIR/c.text"
cmp -s "$DIR/b.text" "$DIR/c.text" || fail "cached and cold answers differ: $(cat "$DIR/b.text") / $(cat "$DIR/c.text")"
ok "identical answers ($(wc -c < "$DIR/b.text") bytes)"

check "the app scope does not see the user scope's pages"
gen "Second question: what is a socket?" 1 cache_scope s app > "$DIR/d"
read -r prompt_d cached_d < "$DIR/d"
[ "$cached_d" = 0 ] || fail "scope app reused $cached_d tokens of scope user"
ok "no reuse across scopes"

check "Stats and the KV properties"
stats=$(busctl --address="$DBUS_SESSION_BUS_ADDRESS" --json=short get-property org.gemmad.Gemmad1 /org/gemmad/Gemmad1 \
        org.gemmad.Gemmad1.Manager Stats)
hits=$(/usr/bin/python3 -c 'import json, sys; print(json.loads(sys.argv[1])["data"]["cache_hits"]["data"])' "$stats")
[ "$hits" -ge 1 ] || fail "Stats cache_hits is $hits"
limit=$(propval KvCacheLimit)
[ "$limit" = $((1024 * 1024 * 1024)) ] || fail "KvCacheLimit is $limit, not the default 1 GiB"
bytes=$(propval KvCacheBytes)
[ "$bytes" -gt 0 ] && [ "$bytes" -le "$limit" ] || fail "KvCacheBytes is $bytes"
ok "cache_hits $hits, KvCacheBytes $bytes of $limit"

finish
