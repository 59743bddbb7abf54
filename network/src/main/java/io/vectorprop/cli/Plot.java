package io.vectorprop.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.style.Styler;

import io.vectorprop.network.Trainer;

/** Draws loss and accuracies per epoch with XChart. */
final class Plot {
    private Plot() {}

    static void write(List<Trainer.EpochResult> results, Path file) throws IOException {
        double[] epochs = new double[results.size()], loss = new double[results.size()];
        double[] train = new double[results.size()], test = new double[results.size()];
        double[] valLoss = new double[results.size()], valAcc = new double[results.size()];
        for (int i = 0; i < results.size(); i++) {
            Trainer.EpochResult r = results.get(i);
            epochs[i] = r.epoch();
            loss[i] = r.loss();
            train[i] = r.trainAccuracy();
            test[i] = r.testAccuracy();
            valLoss[i] = r.validationLoss();
            valAcc[i] = r.validationAccuracy();
        }
        XYChart chart = new XYChartBuilder().width(900).height(500).title("Training").xAxisTitle("epoch")
                .yAxisTitle("loss / accuracy").build();
        chart.getStyler().setLegendPosition(Styler.LegendPosition.InsideNE);
        chart.addSeries("loss", epochs, loss);
        chart.addSeries("train accuracy", epochs, train);
        chart.addSeries("test accuracy", epochs, test);
        if (!results.isEmpty() && !Double.isNaN(results.get(0).validationLoss())) {
            chart.addSeries("validation loss", epochs, valLoss);
            chart.addSeries("validation accuracy", epochs, valAcc);
        }
        Path abs = file.toAbsolutePath();
        if (abs.getParent() != null) Files.createDirectories(abs.getParent());
        String name = abs.toString();
        String base = name.toLowerCase().endsWith(".png") ? name.substring(0, name.length() - 4) : name;
        BitmapEncoder.saveBitmap(chart, base, BitmapEncoder.BitmapFormat.PNG);
    }
}
