#!/bin/sh
# One-shot answer with busctl: Manager.Generate replies when the whole answer is done, so raise
# busctl's 25 s default call timeout. The reply is "s TEXT a{sv} INFO"; --json=short and jq pick
# out the text. Usage: generate-busctl.sh "question" [max_tokens]
set -eu
prompt=${1:?usage: $0 QUESTION [MAX_TOKENS]}
max_tokens=${2:-200}

busctl --user --timeout=300 --json=short call \
        org.gemmad.Gemmad1 /org/gemmad/Gemmad1 org.gemmad.Gemmad1.Manager \
        Generate 'sa{sv}' "$prompt" 1 max_tokens u "$max_tokens" |
        jq -r '.data[0]'
