#!/bin/sh
# Streaming answer with gdbus: Manager.GenerateToFd writes the text into the file descriptor it is
# given while it is generated. busctl cannot pass file descriptors; gdbus can (top-level "h"
# arguments only). Here fd 3 is this script's standard output, so the answer streams there, and
# gdbus's own output (the reply: the info dictionary) goes to standard error.
# Usage: stream-gdbus.sh "question"
set -eu
prompt=${1:?usage: $0 QUESTION}

gdbus call --session --timeout 300 \
        --dest org.gemmad.Gemmad1 --object-path /org/gemmad/Gemmad1 \
        --method org.gemmad.Gemmad1.Manager.GenerateToFd \
        3 "$prompt" "{'max_tokens': <uint32 300>}" 3>&1 >&2
echo
