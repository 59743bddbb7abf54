package io.vectorprop.spark;

import java.io.Serial;
import java.io.Serializable;
import java.util.Random;

/**
 * Which rows make each global mini-batch, so that every partition can find its share without asking
 * the driver. With {@code N} rows in all and a batch size {@code B}, an epoch has
 * {@code S = ⌈N/B⌉} steps; partition {@code p} with {@code nₚ} rows contributes the rows at positions
 * {@code ⌊s·nₚ/S⌋ … ⌊(s+1)·nₚ/S⌋ − 1} of its own shuffled order to step {@code s}. So each epoch
 * visits every row exactly once, a global batch holds {@code Σₚ (share of p) ≈ N/S ≤ B} rows drawn from
 * every partition in proportion to its size, and the order depends only on the seed, the epoch and the
 * partition: the same seed and the same partitioning give the same batches, on any executor, after
 * any retry.
 */
final class BatchPlan implements Serializable {
    @Serial private static final long serialVersionUID = 1L;

    private final long seed;
    private final int[] partitionRows;
    private final int stepsPerEpoch;
    private final long totalRows;

    BatchPlan(long seed, int[] partitionRows, int batchSize) {
        if (batchSize < 1) throw new IllegalArgumentException("batchSize " + batchSize + " must be at least 1");
        long total = 0;
        for (int n : partitionRows) total += n;
        if (total == 0) throw new IllegalArgumentException("VectorpropClassifier: the training data has no rows");
        this.seed = seed;
        this.partitionRows = partitionRows.clone();
        this.totalRows = total;
        this.stepsPerEpoch = (int) Math.min(Integer.MAX_VALUE, (total + batchSize - 1) / batchSize);
    }

    int stepsPerEpoch() { return stepsPerEpoch; }

    long totalRows() { return totalRows; }

    int partitions() { return partitionRows.length; }

    int rows(int partition) { return partitionRows[partition]; }

    /** First position (in the partition's shuffled order) of its share of step {@code step}. */
    int shareStart(int partition, int step) {
        return (int) ((long) step * partitionRows[partition] / stepsPerEpoch);
    }

    /** One past the last position of the share. */
    int shareEnd(int partition, int step) {
        return shareStart(partition, step + 1);
    }

    /**
     * The most rows any partition contributes to one step, the capacity of an executor's workspace:
     * consecutive ⌊s·n/S⌋ differ by at most ⌈n/S⌉.
     */
    int largestShare() {
        int most = 1;
        for (int n : partitionRows) most = Math.max(most, (int) (((long) n + stepsPerEpoch - 1) / stepsPerEpoch));
        return most;
    }

    /** Rows in global batch {@code step}: the sum of every partition's share. */
    int batchRows(int step) {
        int n = 0;
        for (int p = 0; p < partitionRows.length; p++) n += shareEnd(p, step) - shareStart(p, step);
        return n;
    }

    /**
     * The shuffled order of partition {@code partition}'s rows in epoch {@code epoch} (a Fisher–Yates
     * shuffle from a generator seeded by seed, epoch and partition), written into {@code order}.
     */
    void order(int partition, int epoch, int[] order) {
        int n = partitionRows[partition];
        for (int i = 0; i < n; i++) order[i] = i;
        Random rnd = new Random(seed * 0x9E3779B97F4A7C15L + epoch * 0xBF58476D1CE4E5B9L + partition);
        for (int i = n - 1; i > 0; i--) {
            int j = rnd.nextInt(i + 1);
            int t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
    }
}
