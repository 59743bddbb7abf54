package io.vectorprop.network;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import io.vectorprop.kernel.Kernels;
import io.vectorprop.model.SafeTensors;

/**
 * A training checkpoint, a safetensors file: the model as {@link Network#save} writes it, the
 * optimizer's state blocks ({@code optimizer.state.0}, {@code .1}, [P] each), for early stopping the
 * best parameters so far ({@code best.parameters}), and in {@code __metadata__} ({@code format}
 * {@code vectorprop-checkpoint}) the epoch, the optimizer's step count, the early-stopping counters and
 * {@code options}: the settings that shape the run, which a resume must repeat. Any safetensors reader
 * reads the model part of it. Closing it closes the network.
 *
 * <p>Thread-safety: the record is immutable, but its network belongs to one thread at a time, like any {@link Network}.
 */
public record Checkpoint(Network network, float[][] optimizerState, long optimizerSteps, Trainer.State state,
                         String options) implements AutoCloseable {
    /** The {@code format} metadata of a checkpoint. */
    public static final String FORMAT = "vectorprop-checkpoint";

    /** Writes a checkpoint atomically (a temporary file, then a rename). */
    public static void save(Path file, Network net, Optimizer optimizer, Trainer.State state, String options) throws IOException {
        SafeTensors.Contents c = SafeTensors.contents(net.description(), FORMAT);
        var m = c.metadata();
        m.put("epochs_done", Integer.toString(state.epochsDone()));
        m.put("optimizer_steps", Long.toString(optimizer.steps()));
        m.put("best_validation_loss", Double.toString(state.bestValidationLoss()));
        m.put("best_epoch", Integer.toString(state.bestEpoch()));
        m.put("epochs_without_improvement", Integer.toString(state.epochsWithoutImprovement()));
        m.put("options", options);
        float[][] opt = optimizer.state();
        for (int i = 0; i < opt.length; i++) {
            c.tensors().put("optimizer.state." + i, new SafeTensors.Tensor(new long[] {opt[i].length}, opt[i]));
        }
        if (state.bestParameters() != null) {
            c.tensors().put("best.parameters", new SafeTensors.Tensor(new long[] {state.bestParameters().length}, state.bestParameters()));
        }
        SafeTensors.write(c, file);
    }

    /** Reads a checkpoint written by {@link #save}; errors name the file and the entry. */
    public static Checkpoint load(Path file, Kernels kernels) throws IOException {
        SafeTensors.Contents c = SafeTensors.read(file);
        if (!FORMAT.equals(c.metadata().get("format"))) {
            throw new IOException(file + ": not a vectorprop checkpoint (format " + c.metadata().get("format") + ")");
        }
        List<float[]> opt = new ArrayList<>();
        for (int i = 0; c.tensors().containsKey("optimizer.state." + i); i++) opt.add(c.tensors().get("optimizer.state." + i).values());
        Network net = Network.create(SafeTensors.model(c, file.toString(), null), kernels);
        try {
            int p = net.parameters().cols();
            for (float[] o : opt) if (o.length != p) throw new IOException(file + ": optimizer state of " + o.length + " values, not " + p);
            SafeTensors.Tensor bestTensor = c.tensors().get("best.parameters");
            float[] best = bestTensor == null ? null : bestTensor.values();
            if (best != null && best.length != p) throw new IOException(file + ": best.parameters has " + best.length + " values, not " + p);
            Trainer.State state = new Trainer.State(intField(file, c, "epochs_done"),
                    Double.parseDouble(field(file, c, "best_validation_loss")), intField(file, c, "best_epoch"),
                    intField(file, c, "epochs_without_improvement"), best);
            return new Checkpoint(net, opt.toArray(new float[0][]), Long.parseLong(field(file, c, "optimizer_steps")), state,
                    field(file, c, "options"));
        } catch (IOException | RuntimeException e) {
            net.close();
            if (e instanceof NumberFormatException) throw new IOException(file + ": checkpoint metadata: " + e.getMessage());
            throw e;
        }
    }

    private static String field(Path file, SafeTensors.Contents c, String key) throws IOException {
        String v = c.metadata().get(key);
        if (v == null) throw new IOException(file + ": checkpoint metadata has no " + key);
        return v;
    }

    private static int intField(Path file, SafeTensors.Contents c, String key) throws IOException {
        return Integer.parseInt(field(file, c, key));
    }

    @Override
    public void close() { network.close(); }
}
