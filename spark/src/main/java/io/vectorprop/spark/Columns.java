package io.vectorprop.spark;

import java.util.Arrays;

import org.apache.spark.ml.linalg.SQLDataTypes;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.NumericType;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;

/** Schema checks and output columns shared by the estimator and the model; messages name the column and its type. */
final class Columns {
    private Columns() {}

    static StructField field(StructType schema, String name, String who) {
        if (!Arrays.asList(schema.fieldNames()).contains(name)) {
            throw new IllegalArgumentException(who + ": no column '" + name + "' (columns: "
                    + String.join(", ", schema.fieldNames()) + ")");
        }
        return schema.apply(name);
    }

    static void requireVector(StructType schema, String name, String who) {
        StructField f = field(schema, name, who);
        if (!f.dataType().equals(SQLDataTypes.VectorType())) {
            throw new IllegalArgumentException(who + ": column '" + name + "' has type " + f.dataType().simpleString()
                    + "; expected a vector (org.apache.spark.ml.linalg.Vector, e.g. from VectorAssembler)");
        }
    }

    static void requireNumeric(StructType schema, String name, String who) {
        StructField f = field(schema, name, who);
        if (!(f.dataType() instanceof NumericType)) {
            throw new IllegalArgumentException(who + ": column '" + name + "' has type " + f.dataType().simpleString()
                    + "; expected a number holding the class index 0 … k−1 (StringIndexer makes one from strings)");
        }
    }

    /** {@code schema} plus the non-empty output columns, in the order rawPrediction, probability, prediction. */
    static StructType withOutputs(StructType schema, String raw, String probability, String prediction, int classes,
                                  String who) {
        StructType out = schema;
        for (String name : new String[] {raw, probability, prediction}) {
            if (name.isEmpty()) continue;
            if (Arrays.asList(out.fieldNames()).contains(name)) {
                throw new IllegalArgumentException(who + ": output column '" + name + "' already exists");
            }
            out = out.add(new StructField(name, name.equals(prediction) ? DataTypes.DoubleType : SQLDataTypes.VectorType(),
                    false, org.apache.spark.sql.types.Metadata.empty()));
        }
        return out;
    }
}
