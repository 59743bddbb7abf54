/**
 * Data sets for training and evaluation: IDX files (MNIST, Fashion-MNIST) and CSV files, read into an
 * off-heap {@link io.vectorprop.data.Dataset}. Readers report the file, line and column of bad input. A
 * {@code Dataset} is read-only after loading and may be shared between threads.
 */
package io.vectorprop.data;
