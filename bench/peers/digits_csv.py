#!/usr/bin/python3
"""Writes scikit-learn's digits (1,797 8x8 images, Debian's python3-sklearn ships them) as CSV files for
`train --train-csv/--test-csv`: a header row, the label in the first column, 64 pixels scaled to [0, 1];
a seeded 75/25 split. Usage: /usr/bin/python3 bench/peers/digits_csv.py OUT_DIR
"""
import sys
import numpy as np
from sklearn.datasets import load_digits

out = sys.argv[1] if len(sys.argv) > 1 else "."
d = load_digits()
x, y = d.data / 16.0, d.target
order = np.random.default_rng(0).permutation(len(y))
cut = int(len(y) * 0.75)
header = "label," + ",".join("p%d" % i for i in range(64))
for name, idx in (("digits-train.csv", order[:cut]), ("digits-test.csv", order[cut:])):
    rows = np.column_stack([y[idx], x[idx]])
    np.savetxt(out + "/" + name, rows, delimiter=",", header=header, comments="",
               fmt=["%d"] + ["%.4f"] * 64)
    print(out + "/" + name, len(idx), "rows")
