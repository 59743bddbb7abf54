package io.vectorprop.network;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Path;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import io.vectorprop.kernel.Activation;
import io.vectorprop.kernel.Kernels;
import io.vectorprop.kernel.Loss;
import io.vectorprop.model.Architecture;
import io.vectorprop.model.SafeTensors;

/**
 * A checkpoint gives back what was saved (parameters, Adam's two state blocks, the step count, the
 * trainer's state, the options), closing it closes its network, and a file that is not a checkpoint or
 * whose optimizer state does not fit the network is refused with the file and the entry named.
 */
class CheckpointTest {
    @TempDir Path dir;

    @Test
    void roundTripAndRefusals() throws IOException {
        Architecture arch = Architecture.of(new int[] {5, 4, 3}, Activation.TANH, Loss.SOFTMAX_CROSS_ENTROPY);
        Path file = dir.resolve("run.ckpt"), model = dir.resolve("model.safetensors");
        try (Network net = Network.create(arch, Init.XAVIER, 2);
             Optimizer adam = new Optimizer(Optimizer.Config.of(Optimizer.Kind.ADAM, 0.01f, 0f, 0f), net)) {
            float[][] state = {new float[net.parameters().cols()], new float[net.parameters().cols()]};
            for (int i = 0; i < state[0].length; i++) {
                state[0][i] = 0.001f * i;
                state[1][i] = 0.002f * i;
            }
            adam.restore(state, 7);
            Trainer.State trainer = new Trainer.State(3, 0.25, 2, 1, net.parameters().toArray());
            Checkpoint.save(file, net, adam, trainer, "--lr 0.01");
            net.save(model);
            Checkpoint back = Checkpoint.load(file, Kernels.get());
            assertArrayEquals(net.parameters().toArray(), back.network().parameters().toArray());
            assertEquals(2, back.optimizerState().length);
            assertArrayEquals(state[1], back.optimizerState()[1]);
            assertEquals(7, back.optimizerSteps());
            assertEquals(3, back.state().epochsDone());
            assertEquals(0.25, back.state().bestValidationLoss());
            assertEquals(2, back.state().bestEpoch());
            assertEquals(1, back.state().epochsWithoutImprovement());
            assertArrayEquals(net.parameters().toArray(), back.state().bestParameters());
            assertEquals("--lr 0.01", back.options());
            back.close();
            assertFalse(back.network().parameters().isAlive(), "closing the checkpoint closes its network");

            var e = assertThrows(IOException.class, () -> Checkpoint.load(model, Kernels.get()));
            assertTrue(e.getMessage().contains("not a vectorprop checkpoint (format vectorprop)"), e.getMessage());

            SafeTensors.Contents c = SafeTensors.read(file);
            c.tensors().put("optimizer.state.1", new SafeTensors.Tensor(new long[] {3}, new float[3]));
            Path forged = dir.resolve("forged.ckpt");
            SafeTensors.write(c, forged);
            e = assertThrows(IOException.class, () -> Checkpoint.load(forged, Kernels.get()));
            assertTrue(e.getMessage().startsWith(forged + ": optimizer state of 3 values"), e.getMessage());
            c.tensors().remove("optimizer.state.1");
            c.metadata().remove("best_epoch");
            SafeTensors.write(c, forged);
            e = assertThrows(IOException.class, () -> Checkpoint.load(forged, Kernels.get()));
            assertTrue(e.getMessage().contains("checkpoint metadata has no best_epoch"), e.getMessage());
        }
    }
}
