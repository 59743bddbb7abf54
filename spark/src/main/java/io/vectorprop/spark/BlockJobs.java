package io.vectorprop.spark;

import java.io.Serial;
import java.io.Serializable;
import java.util.Arrays;
import java.util.List;

import org.apache.spark.TaskContext;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.rdd.RDD;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.catalyst.InternalRow;

import scala.collection.Iterator;
import scala.jdk.javaapi.CollectionConverters;
import scala.reflect.ClassTag;
import scala.reflect.ClassTag$;
import scala.runtime.AbstractFunction2;

/**
 * The Spark jobs of a fit, each run through a named function class rather than a lambda of Spark's
 * Scala or Java API. Why: before it runs a job or builds an RDD, Spark's closure cleaner reads, with
 * ASM, the class file of the class that declared each Scala lambda it is given ({@code RDD.map},
 * {@code RDD.collect}, {@code JavaRDD.map} and the like each pass it one or two), and returns at once
 * for an object of a named class. In a fresh JVM that reading is interpreted, then compiled by C2 —
 * the same compiler thread the first epoch waits on for the kernels (docs/spark.md has the measurement).
 * So a fit's jobs here hand Spark one named function each; what they run may be a Java lambda, which
 * the cleaner never inspects.
 */
final class BlockJobs {
    private BlockJobs() {}

    /** Work on one partition's block, run in that partition's task. */
    @FunctionalInterface
    interface BlockWork<U> extends Serializable {
        U apply(TaskContext task, RowBlock block);
    }

    private static final ClassTag<Object> ANY = ClassTag$.MODULE$.AnyRef();
    static final ClassTag<RowBlock> ROW_BLOCK = ClassTag$.MODULE$.apply(RowBlock.class);

    /** Runs {@code work} on every partition's block, as one job; the results in partition order. */
    static <U> List<U> onEveryBlock(JavaRDD<RowBlock> blocks, BlockWork<U> work) {
        return results(blocks.rdd(), new OnBlock<>(work));
    }

    /** Runs {@code perPartition} on every partition of {@code rdd}, as one job; the results in partition order. */
    @SuppressWarnings("unchecked")
    static <T, U> List<U> results(RDD<T> rdd, AbstractFunction2<TaskContext, Iterator<T>, U> perPartition) {
        scala.Function2<TaskContext, Iterator<T>, Object> f = (scala.Function2<TaskContext, Iterator<T>, Object>) (Object) perPartition;
        Object[] out = (Object[]) rdd.sparkContext().<T, Object>runJob(rdd, f, ANY);
        return (List<U>) Arrays.asList(out);
    }

    /** Every element of {@code rdd}, in partition order (what {@code collect()} returns), as one job. */
    static <T> List<T> elements(RDD<T> rdd) {
        List<List<T>> parts = results(rdd, new Elements<>());
        return parts.stream().flatMap(List::stream).toList();
    }

    /**
     * Each partition of {@code selected} (the features vector, then the label as a double) read into one
     * block: from Spark SQL's internal rows where the Dataset is Spark's classic (in-process) one, else
     * through {@code rdd()}.
     */
    static RDD<RowBlock> readBlocks(Dataset<Row> selected, int features, int classes, String featuresCol, String labelCol) {
        return selected instanceof org.apache.spark.sql.classic.Dataset<Row> classic
                ? read(classic.queryExecution().toRdd(), true, features, classes, featuresCol, labelCol)
                : read(selected.rdd(), false, features, classes, featuresCol, labelCol);
    }

    /** Each partition of {@code rows} ({@link InternalRow}s if {@code internalRows}, else {@link Row}s) read into one block. */
    static <R> RDD<RowBlock> read(RDD<R> rows, boolean internalRows, int features, int classes, String featuresCol,
                                  String labelCol) {
        return rows.mapPartitionsWithIndex(new ReadBlock<>(internalRows, features, classes, featuresCol, labelCol), true,
                ROW_BLOCK);
    }

    private static final class OnBlock<U> extends AbstractFunction2<TaskContext, Iterator<RowBlock>, U>
            implements Serializable {
        @Serial private static final long serialVersionUID = 1L;
        private final BlockWork<U> work;

        OnBlock(BlockWork<U> work) {
            this.work = work;
        }

        @Override
        public U apply(TaskContext task, Iterator<RowBlock> partition) {
            return work.apply(task, partition.next());
        }
    }

    private static final class Elements<T> extends AbstractFunction2<TaskContext, Iterator<T>, List<T>>
            implements Serializable {
        @Serial private static final long serialVersionUID = 1L;

        @Override
        public List<T> apply(TaskContext task, Iterator<T> partition) {
            List<T> out = new java.util.ArrayList<>();
            while (partition.hasNext()) out.add(partition.next());
            return out;
        }
    }

    /** Reads a partition's rows, {@link InternalRow}s or {@link Row}s, into one block. */
    private static final class ReadBlock<R> extends AbstractFunction2<Object, Iterator<R>, Iterator<RowBlock>>
            implements Serializable {
        @Serial private static final long serialVersionUID = 1L;
        private final boolean internalRows;
        private final int features, classes;
        private final String featuresCol, labelCol;

        ReadBlock(boolean internalRows, int features, int classes, String featuresCol, String labelCol) {
            this.internalRows = internalRows;
            this.features = features;
            this.classes = classes;
            this.featuresCol = featuresCol;
            this.labelCol = labelCol;
        }

        @Override
        @SuppressWarnings("unchecked")
        public Iterator<RowBlock> apply(Object partition, Iterator<R> rows) {
            int p = (Integer) partition;
            java.util.Iterator<?> it = CollectionConverters.asJava(rows);
            RowBlock block = internalRows
                    ? RowBlock.readInternal(p, (java.util.Iterator<InternalRow>) it, features, classes, featuresCol, labelCol)
                    : RowBlock.read(p, (java.util.Iterator<Row>) it, 0, 1, features, classes, featuresCol, labelCol);
            return CollectionConverters.asScala(List.of(block).iterator());
        }
    }
}
