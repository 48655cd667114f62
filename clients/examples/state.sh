#!/bin/sh
# The daemon's state and power policy from properties: State (loading, ready, error, stopped),
# ActiveSlice (the model slice new requests run on) and SliceReason (ac, battery, thermal, ...).
# busctl prints each as 's "value"'; cut keeps the value. Reading a property never waits for
# the model. Usage: state.sh
set -eu
get() {
        busctl --user get-property org.gemmad.Gemmad1 /org/gemmad/Gemmad1 \
                org.gemmad.Gemmad1.Manager "$1" | cut -d'"' -f2
}

echo "state:  $(get State) ($(get StateReason))"
echo "slice:  $(get ActiveSlice) (policy $(get SlicePolicy), reason $(get SliceReason))"
