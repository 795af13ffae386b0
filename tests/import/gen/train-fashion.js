// Trains a small Keras CNN with TensorFlow.js on Fashion-MNIST (Debian's
// dataset-fashion-mnist), as a researcher would in Keras, and saves it in the
// TensorFlow.js layers format with its own measured test accuracy, so the
// import of a really trained model can be checked against the accuracy its
// trainer reported.  Rerun (minutes on two cores):
//   cd tests/import/gen && npm install --no-save ... (see tfjs-models.js) &&
//   node train-fashion.js && python3 keras-h5.py
// Writes tests/import/fashion-keras/{model.json, group1-shard1of1.bin, accuracy.txt}.
'use strict';
const fs = require('fs');
const path = require('path');
const zlib = require('zlib');
const tf = require('@tensorflow/tfjs-core');
require('@tensorflow/tfjs-backend-cpu');
const tfl = require('@tensorflow/tfjs-layers');

const DATA = '/usr/share/datasets/fashion-mnist';
const OUT = path.resolve(__dirname, '..', 'fashion-keras');

function idx(file) {
    const b = zlib.gunzipSync(fs.readFileSync(path.join(DATA, file)));
    const nd = b[3];
    const dims = [];
    for (let i = 0; i < nd; i++) dims.push(b.readUInt32BE(4 + 4 * i));
    return {dims, data: b.subarray(4 + 4 * nd)};
}

function images(set, from, n) {
    const [, h, w] = set.dims;
    const x = new Float32Array(n * h * w);
    for (let i = 0; i < x.length; i++) x[i] = set.data[from * h * w + i] / 255;
    return tf.tensor4d(x, [n, h, w, 1]);
}

function onehot(set, from, n) {
    return tf.oneHot(tf.tensor1d(Array.from(set.data.subarray(from, from + n)), 'int32'), 10);
}

(async () => {
    await tf.setBackend('cpu');
    const xtr = idx('train-images-idx3-ubyte.gz'), ytr = idx('train-labels-idx1-ubyte.gz');
    const xte = idx('t10k-images-idx3-ubyte.gz'), yte = idx('t10k-labels-idx1-ubyte.gz');
    const m = tfl.sequential({name: 'fashion_keras'});
    m.add(tfl.layers.conv2d({name: 'conv2d', inputShape: [28, 28, 1], filters: 12,
                             kernelSize: 5, activation: 'relu'}));
    m.add(tfl.layers.maxPooling2d({name: 'max_pooling2d', poolSize: 2}));
    m.add(tfl.layers.flatten({name: 'flatten'}));
    m.add(tfl.layers.dropout({name: 'dropout', rate: 0.25}));
    m.add(tfl.layers.dense({name: 'dense', units: 10, activation: 'softmax'}));
    m.compile({optimizer: tf.train.adam(0.001), loss: 'categoricalCrossentropy',
               metrics: ['accuracy']});
    const t0 = Date.now();
    const N = Number(process.env.N || 12000), chunk = 2000;
    for (let epoch = 0; epoch < 2; epoch++)
        for (let s = 0; s < N; s += chunk) {
            const x = images(xtr, s, chunk), y = onehot(ytr, s, chunk);
            const h = await m.fit(x, y, {batchSize: 64, epochs: 1, shuffle: true, verbose: 0});
            console.log(`epoch ${epoch + 1}, images ${s + chunk}: loss ${h.history.loss[0].toFixed(4)} (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
            x.dispose(); y.dispose();
        }
    fs.mkdirSync(OUT, {recursive: true});
    let a;
    await m.save(tf.io.withSaveHandler(async art => { a = art; return {}; }));
    fs.writeFileSync(path.join(OUT, 'group1-shard1of1.bin'), Buffer.from(a.weightData));
    fs.writeFileSync(path.join(OUT, 'model.json'), JSON.stringify({
        format: 'layers-model', generatedBy: a.generatedBy, convertedBy: null,
        modelTopology: a.modelTopology,
        weightsManifest: [{paths: ['group1-shard1of1.bin'], weights: a.weightSpecs}],
    }));
    // Test accuracy as the trainer measures it: argmax of model.predict.
    let correct = 0;
    for (let s = 0; s < 10000; s += 2000) {
        const p = tf.argMax(m.predict(images(xte, s, 2000)), -1).dataSync();
        for (let i = 0; i < 2000; i++) correct += p[i] === yte.data[s + i];
    }
    fs.writeFileSync(path.join(OUT, 'accuracy.txt'), `${correct}\n`);
    console.log(`test accuracy (TensorFlow.js): ${correct} / 10000`);
})().catch(e => { console.error(e); process.exit(1); });
