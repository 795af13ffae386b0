#!/usr/bin/env python3
"""Writes the TensorFlow.js reference models (tests/import/NAME/, made by
tfjs-models.js) again in Keras' own HDF5 layouts, with Debian's python3-h5py,
following Keras' saving code:

  NAME/model.h5          Keras 2 / tf.keras model.save('model.h5')
                         (legacy hdf5_format.save_model_to_hdf5): root attributes
                         model_config, keras_version, backend; group
                         model_weights with attribute layer_names, and per layer a
                         group with attribute weight_names whose datasets sit at
                         model_weights/<layer>/<weight name>, e.g.
                         model_weights/conv2d/conv2d/kernel:0
  NAME/k2.weights.h5     Keras 2 model.save_weights('w.h5'): the same layer
                         groups at the root
  NAME/model.keras       Keras 3 model.save('model.keras') (saving_lib): a zip of
                         metadata.json, config.json and model.weights.h5
  NAME/model.weights.h5  Keras 3 model.save_weights('model.weights.h5'):
                         layers/<snake_case class name>[_k]/vars/<i>, each layer's
                         trainable variables then its non-trainable ones

Rerun: python3 tests/import/gen/keras-h5.py (after tfjs-models.js).
"""
import io
import json
import os
import re
import zipfile

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
MODELS = ["lee-mnist", "strided-same", "bn-dropout", "rgb", "fashion-keras"]
# Each Keras kind's variables in creation order (Layer.weights order).
VARS = {
    "Conv2D": ["kernel", "bias"],
    "Dense": ["kernel", "bias"],
    "BatchNormalization": ["gamma", "beta", "moving_mean", "moving_variance"],
}
NON_TRAINABLE = {"moving_mean", "moving_variance"}


def member(z, name, data):
    """A zip member with a fixed date, so that reruns give the same bytes."""
    z.writestr(zipfile.ZipInfo(name, date_time=(2026, 12, 1, 0, 0, 0)), data)


def snake(name):
    # keras.src.utils.naming.to_snake_case
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def load_tfjs(name):
    d = os.path.join(TOP, name)
    with open(os.path.join(d, "model.json")) as f:
        mj = json.load(f)
    data = b"".join(open(os.path.join(d, p), "rb").read()
                    for p in mj["weightsManifest"][0]["paths"])
    weights, off = {}, 0
    for spec in mj["weightsManifest"][0]["weights"]:
        assert spec["dtype"] == "float32"
        n = int(np.prod(spec["shape"])) if spec["shape"] else 1
        weights[spec["name"]] = np.frombuffer(data, "<f4", n, off).reshape(spec["shape"])
        off += 4 * n
    assert off == len(data)
    return mj["modelTopology"], weights


def layer_vars(layer, weights):
    """(variable name, array) of one layer in Keras' order."""
    name = layer["config"]["name"]
    out = []
    for v in VARS.get(layer["class_name"], []):
        key = f"{name}/{v}"
        if key in weights:
            out.append((v, weights[key]))
    return out


def keras2_config(topo):
    layers = [dict(l, config=dict(l["config"])) for l in topo["config"]["layers"]]
    first = layers[0]["config"]
    shape = first.pop("batch_input_shape")
    inp = {"class_name": "InputLayer",
           "config": {"batch_input_shape": shape, "dtype": "float32", "sparse": False,
                      "ragged": False, "name": first["name"] + "_input"}}
    return {"class_name": "Sequential",
            "config": {"name": topo["config"]["name"], "layers": [inp] + layers}}


def save_k2_weights(g, topo, weights):
    # save_attributes_to_hdf5_group stores lists as numpy byte arrays.
    layers = topo["config"]["layers"]
    g.attrs["layer_names"] = np.asarray([l["config"]["name"].encode() for l in layers])
    g.attrs["backend"] = b"tensorflow"
    g.attrs["keras_version"] = b"2.13.1"
    for l in sorted(layers, key=lambda l: l["config"]["name"]):
        lname = l["config"]["name"]
        lg = g.create_group(lname)
        pairs = layer_vars(l, weights)
        names = [f"{lname}/{v}:0".encode() for v, _ in pairs]
        lg.attrs["weight_names"] = np.asarray(names)
        for n, (_, a) in zip(names, pairs):
            ds = lg.create_dataset(n.decode(), a.shape, dtype=a.dtype)
            ds[...] = a


def keras3_config(topo):
    policy = {"module": "keras", "class_name": "DTypePolicy",
              "config": {"name": "float32"}, "registered_name": None}
    src = topo["config"]["layers"]
    shape = src[0]["config"]["batch_input_shape"]
    layers = [{"module": "keras.layers", "class_name": "InputLayer",
               "config": {"batch_shape": shape, "dtype": "float32", "sparse": False,
                          "name": "input_layer"}, "registered_name": None}]
    for l in src:
        cfg = {k: v for k, v in l["config"].items() if k != "batch_input_shape"}
        cfg["dtype"] = policy
        layers.append({"module": "keras.layers", "class_name": l["class_name"],
                       "config": cfg, "registered_name": None})
    return {"module": "keras", "class_name": "Sequential",
            "config": {"name": topo["config"]["name"], "trainable": True, "dtype": policy,
                       "layers": layers},
            "registered_name": None, "build_config": {"input_shape": shape},
            "compile_config": None}


def save_k3_weights(f, topo, weights):
    f.create_group("vars")  # the model's own (none)
    used = {}
    for l in topo["config"]["layers"]:
        # saving_lib._save_container_state: the class name, not layer.name
        n = snake(l["class_name"])
        if n in used:
            used[n] += 1
            n = f"{n}_{used[n]}"
        else:
            used[n] = 0
        vg = f.create_group(f"layers/{n}").create_group("vars")
        pairs = layer_vars(l, weights)
        ordered = ([a for v, a in pairs if v not in NON_TRAINABLE] +
                   [a for v, a in pairs if v in NON_TRAINABLE])
        for i, a in enumerate(ordered):
            vg[str(i)] = a


def bad_files():
    """Damaged files for tests/bad-inputs (the 42N-import-* cases)."""
    topo, weights = load_tfjs("rgb")
    bad = os.path.join(TOP, "bad")
    os.makedirs(bad, exist_ok=True)
    src = os.path.join(TOP, "rgb", "model.h5")
    data = open(src, "rb").read()
    # an HDF5 file cut short
    open(os.path.join(bad, "truncated.h5"), "wb").write(data[:len(data) // 2])

    def k2_variant(out, edit):
        with h5py.File(os.path.join(bad, out), "w") as f:
            f.attrs["backend"] = b"tensorflow"
            f.attrs["keras_version"] = b"2.13.1"
            f.attrs["model_config"] = json.dumps(keras2_config(topo)).encode()
            save_k2_weights(f.create_group("model_weights"), topo, weights)
            edit(f)

    # dense/bias missing (its name still listed)
    k2_variant("missing-weight.h5", lambda f: f.__delitem__("model_weights/dense/dense/bias:0"))

    def wrong_shape(f):
        del f["model_weights/dense/dense/kernel:0"]
        f["model_weights/dense/dense/kernel:0"] = np.zeros((59, 7), "f4")
    k2_variant("wrong-shape.h5", wrong_shape)

    def nan(f):
        a = f["model_weights/conv2d/conv2d/kernel:0"]
        v = a[...]
        v[0, 0, 0, 0] = np.nan
        v[1, 2, 0, 3] = np.inf
        a[...] = v
    k2_variant("nan-weight.h5", nan)

    def extra(f):
        # a layer the architecture does not have, with weights
        g = f["model_weights"].create_group("dense_9")
        g.attrs["weight_names"] = np.asarray([b"dense_9/kernel:0"])
        g["dense_9/kernel:0"] = np.zeros((4, 4), "f4")
        names = list(f["model_weights"].attrs["layer_names"]) + [b"dense_9"]
        f["model_weights"].attrs["layer_names"] = np.asarray(names)
    k2_variant("extra-layer.h5", extra)

    # a Keras 3 archive without config.json
    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        save_k3_weights(f, topo, weights)
    with zipfile.ZipFile(os.path.join(bad, "no-config.keras"), "w") as z:
        member(z, "metadata.json", json.dumps({"keras_version": "3.6.0"}))
        member(z, "model.weights.h5", buf.getvalue())
    # a Keras 3 weights file whose dense layer has one variable too few
    with h5py.File(os.path.join(bad, "k3-missing-var.weights.h5"), "w") as f:
        save_k3_weights(f, topo, weights)
        del f["layers/dense/vars/1"]


def main():
    for name in MODELS:
        topo, weights = load_tfjs(name)
        d = os.path.join(TOP, name)
        with h5py.File(os.path.join(d, "model.h5"), "w") as f:
            f.attrs["backend"] = b"tensorflow"
            f.attrs["keras_version"] = b"2.13.1"
            f.attrs["model_config"] = json.dumps(keras2_config(topo)).encode()
            save_k2_weights(f.create_group("model_weights"), topo, weights)
        with h5py.File(os.path.join(d, "k2.weights.h5"), "w") as f:
            save_k2_weights(f, topo, weights)
        with h5py.File(os.path.join(d, "model.weights.h5"), "w") as f:
            save_k3_weights(f, topo, weights)
        buf = io.BytesIO()
        with h5py.File(buf, "w") as f:
            save_k3_weights(f, topo, weights)
        with zipfile.ZipFile(os.path.join(d, "model.keras"), "w") as z:
            member(z, "metadata.json", json.dumps({"keras_version": "3.6.0",
                                                   "date_saved": "2026-12-01@00:00:00"}))
            member(z, "config.json", json.dumps(keras3_config(topo)))
            member(z, "model.weights.h5", buf.getvalue())
        with open(os.path.join(d, "arch.json"), "w") as f:
            json.dump(keras2_config(topo), f)
        print(name, "written")
    bad_files()


if __name__ == "__main__":
    main()
