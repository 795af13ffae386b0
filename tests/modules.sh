#!/usr/bin/env bash
# The module graph of lib/ has no cycle, seen two ways:
#   includes  module A -> B when a file of A #includes a header of B;
#   symbols   module A -> B when an object of A uses a symbol an object of B
#             defines (nm of $BUILD/lib, so `make` must have built it).
# A module is a file name without its extension: lib/net.c, include/cnn/net.h
# and lib/net.h are "net"; lib/layers/* is one module, "layers" (its registry
# and its kinds refer to each other by design); lib/X_internal.h (X's own
# declarations for the rest of libcnn) belongs to "X".  A cycle fails and is printed.  `bash tests/modules.sh --print`
# prints both graphs, one "module: dependencies" line each.
set -u
BUILD=${BUILD:-build}
print=0; [ "${1:-}" = --print ] && print=1

module() {
    local f=$1
    case $f in
        lib/layers/*) echo layers; return ;;
        lib/*_internal.h) f=${f#lib/}; echo "${f%_internal.h}"; return ;;
    esac
    f=${f#lib/}; f=${f#include/cnn/}; echo "${f%.*}"
}

# "A B" lines for the include graph.
include_edges() {
    local f m h
    for f in $(find lib include/cnn -name '*.[ch]' | sort); do
        m=$(module "$f")
        for h in $(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f"); do
            local path=""
            for dir in "$(dirname "$f")" lib include/cnn lib/layers; do
                [ -f "$dir/$h" ] && { path=$dir/$h; break; }
            done
            [ -n "$path" ] || continue
            path=${path#./}
            local to; to=$(module "$path")
            [ "$to" != "$m" ] && echo "$m $to"
        done
    done | sort -u
}

# "A B" lines for the symbol graph.
symbol_edges() {
    local defs uses o m
    defs=$(mktemp); uses=$(mktemp)
    for o in $(find "$BUILD/lib" -name '*.o' | sort); do
        m=$(module "lib/${o#"$BUILD"/lib/}")
        nm --defined-only "$o" | awk -v m="$m" '$2 ~ /^[TDRBCGSV]$/ {print $3, m}' >>"$defs"
        nm -u "$o" | awk -v m="$m" '{print m, $2}' >>"$uses"
    done
    awk 'NR == FNR {def[$1] = $2; next} ($2 in def) && def[$2] != $1 {print $1, def[$2]}' \
        "$defs" "$uses" | sort -u
    rm -f "$defs" "$uses"
}

# Reads "A B" edges; prints one cycle ("a -> b -> a") if there is one.
find_cycle() {
    awk '
    { n[$1]; n[$2]; adj[$1] = adj[$1] " " $2 }
    function dfs(v,    k, m, w, i) {
        state[v] = 1; stack[++depth] = v
        m = split(adj[v], w, " ")
        for (k = 1; k <= m; k++) {
            if (state[w[k]] == 1) {
                s = ""
                for (i = 1; i <= depth; i++) if (stack[i] == w[k]) break
                for (; i <= depth; i++) s = s stack[i] " -> "
                print s w[k]; found = 1; return
            }
            if (!state[w[k]]) { dfs(w[k]); if (found) return }
        }
        state[v] = 2; depth--
    }
    END { for (v in n) if (!state[v] && !found) dfs(v) }'
}

adjacency() { awk '{a[$1] = a[$1] " " $2} END {for (k in a) print k ":" a[k]}' | sort; }

passed=0; failed=0
check() {
    local what=$1 edges=$2 cycle
    if [ "$print" = 1 ]; then echo "# $what"; printf '%s\n' "$edges" | adjacency; fi
    if [ -z "$edges" ]; then
        echo "  $what graph: no edges found" >&2; failed=$((failed + 1)); return
    fi
    cycle=$(printf '%s\n' "$edges" | find_cycle)
    if [ -n "$cycle" ]; then
        echo "  $what graph has a cycle: $cycle" >&2; failed=$((failed + 1))
    else
        passed=$((passed + 1))
    fi
}

check includes "$(include_edges)"
if [ -d "$BUILD/lib" ]; then
    check symbols "$(symbol_edges)"
else
    echo "  $BUILD/lib missing: build first" >&2; failed=$((failed + 1))
fi
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
