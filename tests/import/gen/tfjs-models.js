// Builds the reference models for cnn-import's fidelity tests with
// TensorFlow.js (a real implementation of Keras' layers), gives every weight a
// distinctive value, saves each model in the TensorFlow.js layers format and
// records model.predict() on fixed inputs.
//
// Rerun (needs the npm registry):
//   cd tests/import/gen && npm install --no-save --no-audit --no-fund \
//       @tensorflow/tfjs-core@4.22.0 @tensorflow/tfjs-layers@4.22.0 \
//       @tensorflow/tfjs-backend-cpu@4.22.0 && node tfjs-models.js
// then `python3 keras-h5.py` (tests/import/gen/) writes the same weights in
// Keras' HDF5 layouts.
//
// For each model NAME it writes into tests/import/NAME/:
//   model.json, weights*.bin   the TensorFlow.js files (model.json + shards)
//   inputs.idx                 the fixed inputs as an IDX ubyte file, (N, H, W)
//                              or (N, H, W, C); the model sees byte / 255
//   expected.tsv               model.predict() on them: one line per image,
//                              the class probabilities with 9 significant digits
'use strict';
const fs = require('fs');
const path = require('path');
const tf = require('@tensorflow/tfjs-core');
require('@tensorflow/tfjs-backend-cpu');
const tfl = require('@tensorflow/tfjs-layers');

const OUT = path.resolve(__dirname, '..');
const N = 6; // images per model

// The lecture's model (Hung-yi Lee): (conv + max pool) x 2, flatten, dense.
function leeMnist() {
    const m = tfl.sequential({name: 'lee_mnist'});
    m.add(tfl.layers.conv2d({name: 'conv2d', inputShape: [28, 28, 1], filters: 25,
                             kernelSize: 3, activation: 'relu'}));
    m.add(tfl.layers.maxPooling2d({name: 'max_pooling2d', poolSize: 2}));
    m.add(tfl.layers.conv2d({name: 'conv2d_1', filters: 50, kernelSize: [3, 3],
                             activation: 'relu'}));
    m.add(tfl.layers.maxPooling2d({name: 'max_pooling2d_1', poolSize: [2, 2]}));
    m.add(tfl.layers.flatten({name: 'flatten'}));
    m.add(tfl.layers.dense({name: 'dense', units: 100, activation: 'relu'}));
    m.add(tfl.layers.dense({name: 'dense_1', units: 10, activation: 'softmax'}));
    return m;
}

// "same" padding with strides on odd sizes (Keras puts the extra row and
// column of padding after), a 5x3 kernel, average pooling, flatten of a
// non-square map.
function stridedSame() {
    const m = tfl.sequential({name: 'strided_same'});
    m.add(tfl.layers.conv2d({name: 'conv_a', inputShape: [15, 13, 1], filters: 6,
                             kernelSize: [5, 3], strides: 2, padding: 'same',
                             activation: 'tanh'}));
    m.add(tfl.layers.conv2d({name: 'conv_b', filters: 4, kernelSize: 3, strides: [2, 1],
                             padding: 'same', activation: 'relu'}));
    m.add(tfl.layers.averagePooling2d({name: 'avg', poolSize: [2, 2], strides: 1,
                                       padding: 'valid'}));
    m.add(tfl.layers.flatten({name: 'flat'}));
    m.add(tfl.layers.dense({name: 'out', units: 5, activation: 'softmax'}));
    return m;
}

// BatchNormalization (with a non-default epsilon) on a map, on the flattened
// vector and after a dense layer, and Dropout,
// which is the identity at inference.
function bnDropout() {
    const m = tfl.sequential({name: 'bn_dropout'});
    m.add(tfl.layers.conv2d({name: 'conv', inputShape: [12, 12, 1], filters: 8,
                             kernelSize: 3, useBias: false}));
    m.add(tfl.layers.batchNormalization({name: 'bn', epsilon: 0.01}));
    m.add(tfl.layers.activation({name: 'act', activation: 'relu'}));
    m.add(tfl.layers.maxPooling2d({name: 'pool', poolSize: 2}));
    m.add(tfl.layers.dropout({name: 'drop', rate: 0.25}));
    m.add(tfl.layers.flatten({name: 'flatten'}));
    // per-feature parameters of the flattened vector: Keras' (h, w, c) order
    m.add(tfl.layers.batchNormalization({name: 'bn_flat'}));
    m.add(tfl.layers.dense({name: 'hidden', units: 16}));
    m.add(tfl.layers.batchNormalization({name: 'bn_1'}));
    m.add(tfl.layers.activation({name: 'act_1', activation: 'relu'}));
    m.add(tfl.layers.dropout({name: 'drop_1', rate: 0.5}));
    m.add(tfl.layers.dense({name: 'logits', units: 3, activation: 'softmax'}));
    return m;
}

// Three input channels, so both the conv kernels' in-channel axis and the
// flatten permutation over channels are exercised.
function rgb() {
    const m = tfl.sequential({name: 'rgb'});
    m.add(tfl.layers.conv2d({name: 'conv2d', inputShape: [10, 9, 3], filters: 5,
                             kernelSize: 3, activation: 'relu'}));
    m.add(tfl.layers.maxPooling2d({name: 'max_pooling2d', poolSize: 2}));
    m.add(tfl.layers.flatten({name: 'flatten'}));
    m.add(tfl.layers.dense({name: 'dense', units: 7, activation: 'sigmoid'}));
    m.add(tfl.layers.dense({name: 'dense_1', units: 4, activation: 'softmax'}));
    return m;
}

// Distinctive, deterministic values: no two weights alike, signs mixed,
// scaled by 1/sqrt(fan-in) so the activations stay in a useful range.
function fill(weight, k) {
    const shape = weight.shape;
    const n = shape.reduce((a, b) => a * b, 1);
    const v = new Float32Array(n);
    const name = weight.name;
    if (/moving_variance$/.test(name)) {
        for (let i = 0; i < n; i++) v[i] = 0.4 + 0.3 * (1 + Math.sin(1.3 * i + k));
    } else if (/moving_mean$/.test(name)) {
        for (let i = 0; i < n; i++) v[i] = 0.2 * Math.sin(0.9 * i + 2 * k);
    } else if (/gamma$/.test(name)) {
        for (let i = 0; i < n; i++) v[i] = 1 + 0.5 * Math.sin(0.7 * i + k);
    } else {
        const fanIn = shape.length > 1 ? n / shape[shape.length - 1] : 4;
        const scale = 1.7 / Math.sqrt(fanIn);
        for (let i = 0; i < n; i++)
            v[i] = scale * Math.sin(0.61 * i + 1.7 * k + 0.013 * i * i % 7);
    }
    return tf.tensor(v, shape);
}

function idx(bytes, dims) {
    const head = Buffer.alloc(4 + 4 * dims.length);
    head[2] = 0x08;
    head[3] = dims.length;
    dims.forEach((d, i) => head.writeUInt32BE(d, 4 + 4 * i));
    return Buffer.concat([head, Buffer.from(bytes)]);
}

async function build(name, make, shards) {
    const m = make();
    m.setWeights(m.weights.map((w, k) => fill(w, k + 1)));
    const [h, w, c] = m.inputs[0].shape.slice(1);
    const bytes = new Uint8Array(N * h * w * c);
    for (let i = 0; i < bytes.length; i++)
        bytes[i] = (i * 37 + Math.floor(i / 7) * 11 + (i % 13) * 53) % 256;
    const x = tf.tensor(Array.from(bytes, b => b / 255), [N, h, w, c]);
    const p = await m.predict(x).array();

    const dir = path.join(OUT, name);
    fs.mkdirSync(dir, {recursive: true});
    let artifacts;
    await m.save(tfl.io ? tfl.io.withSaveHandler(async a => { artifacts = a; return {}; })
                        : tf.io.withSaveHandler(async a => { artifacts = a; return {}; }));
    // Split the weight data into `shards` files, as tensorflowjs_converter
    // does for large models (the boundaries fall inside tensors on purpose).
    const data = Buffer.from(artifacts.weightData);
    const paths = [];
    for (let s = 0; s < shards; s++) {
        const a = Math.floor(data.length * s / shards), b = Math.floor(data.length * (s + 1) / shards);
        const file = `group1-shard${s + 1}of${shards}.bin`;
        fs.writeFileSync(path.join(dir, file), data.subarray(a, b));
        paths.push(file);
    }
    const json = {
        format: 'layers-model',
        generatedBy: artifacts.generatedBy,
        convertedBy: artifacts.convertedBy || null,
        modelTopology: artifacts.modelTopology,
        weightsManifest: [{paths, weights: artifacts.weightSpecs}],
    };
    fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify(json));
    fs.writeFileSync(path.join(dir, 'inputs.idx'),
                     idx(bytes, c === 1 ? [N, h, w] : [N, h, w, c]));
    fs.writeFileSync(path.join(dir, 'expected.tsv'),
                     p.map(row => row.map(v => v.toPrecision(9)).join('\t')).join('\n') + '\n');
    console.log(`${name}: ${m.countParams()} parameters, ${shards} shard(s)`);
}

(async () => {
    await tf.setBackend('cpu');
    await build('lee-mnist', leeMnist, 2);
    await build('strided-same', stridedSame, 1);
    await build('bn-dropout', bnDropout, 1);
    await build('rgb', rgb, 3);
})().catch(e => { console.error(e); process.exit(1); });
