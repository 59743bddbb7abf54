#!/usr/bin/env python3
"""Writes the Fashion-MNIST subset embedded in vectorprop.jar, which the train and evaluate commands use
when no data set is named and Debian's dataset-fashion-mnist is not installed.

A fixed, seeded, class-balanced draw: 300 images of each of the 10 classes from the 60,000 training
images (3,000) and 100 of each from the 10,000 test images (1,000), kept in their original order, written
as gzip-compressed IDX files (the format IdxReader reads) into
network/src/main/resources/io/vectorprop/data/fashion-mnist-subset/. Rerunning it gives the same bytes.

    python3 network/src/build/make_fashion_mnist_subset.py [/usr/share/datasets/fashion-mnist]
"""
import gzip, os, struct, sys
import numpy as np

SOURCE = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/datasets/fashion-mnist"
TARGET = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "main", "resources", "io", "vectorprop", "data",
                      "fashion-mnist-subset")
SEED = 42


def read(prefix):
    with gzip.open(os.path.join(SOURCE, prefix + "-images-idx3-ubyte.gz")) as f:
        n, rows, cols = struct.unpack(">4xIII", f.read(16))
        images = np.frombuffer(f.read(), np.uint8).reshape(n, rows * cols)
    with gzip.open(os.path.join(SOURCE, prefix + "-labels-idx1-ubyte.gz")) as f:
        labels = np.frombuffer(f.read()[8:], np.uint8)
    return images, labels


def write(prefix, images, labels):
    os.makedirs(TARGET, exist_ok=True)
    # mtime=0 and no file name in the gzip header: the same bytes on every run.
    with open(os.path.join(TARGET, prefix + "-images-idx3-ubyte.gz"), "wb") as raw, \
            gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=9, mtime=0, filename="") as f:
        f.write(struct.pack(">IIII", 0x803, len(images), 28, 28) + images.tobytes())
    with open(os.path.join(TARGET, prefix + "-labels-idx1-ubyte.gz"), "wb") as raw, \
            gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=9, mtime=0, filename="") as f:
        f.write(struct.pack(">II", 0x801, len(labels)) + labels.tobytes())


rng = np.random.default_rng(SEED)
for prefix, per_class in (("train", 300), ("t10k", 100)):
    images, labels = read(prefix)
    keep = np.sort(np.concatenate([rng.choice(np.flatnonzero(labels == c), per_class, replace=False) for c in range(10)]))
    write(prefix, images[keep], labels[keep])
    print(prefix, len(keep), "images")
