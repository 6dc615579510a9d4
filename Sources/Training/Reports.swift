import Foundation
import Kernels

/// The figures of one finished epoch, as metrics.csv and the curves show them.
public struct EpochRecord: Sendable, Codable, Equatable {
    /// 1-based epoch number.
    public var epoch: Int
    /// Mean training loss over the epoch's images.
    public var loss: Double
    /// Fraction of the epoch's training images classified correctly (while training).
    public var trainAccuracy: Double
    /// Accuracy on the held-out validation images, when `--validation` is used.
    public var validationAccuracy: Double?
    /// Learning rate at the epoch's last step.
    public var learningRate: Double
    /// Training throughput of the epoch.
    public var imagesPerSecond: Double
    /// Training wall time since the run started (excluding evaluation), seconds.
    public var wallSeconds: Double

    /// A record of the given figures.
    public init(epoch: Int, loss: Double, trainAccuracy: Double, validationAccuracy: Double?, learningRate: Double, imagesPerSecond: Double, wallSeconds: Double) {
        self.epoch = epoch
        self.loss = loss
        self.trainAccuracy = trainAccuracy
        self.validationAccuracy = validationAccuracy
        self.learningRate = learningRate
        self.imagesPerSecond = imagesPerSecond
        self.wallSeconds = wallSeconds
    }
}

/// The files a training run leaves in its output folder besides the model.
public enum Reports {
    /// metrics.csv: one row per epoch (validation accuracy empty without a validation split).
    public static func metricsCSV(_ records: [EpochRecord]) -> String {
        var out = "epoch,loss,train_accuracy,validation_accuracy,learning_rate,images_per_second,wall_seconds\n"
        for r in records {
            let val = r.validationAccuracy.map { String(format: "%.4f", $0) } ?? ""
            out += "\(r.epoch),\(String(format: "%.5f", r.loss)),\(String(format: "%.4f", r.trainAccuracy)),\(val),"
                + "\(String(format: "%.6g", r.learningRate)),\(String(format: "%.1f", r.imagesPerSecond)),\(String(format: "%.2f", r.wallSeconds))\n"
        }
        return out
    }

    /// The records of a metrics.csv written by `metricsCSV` (nil when `text` is not one: another
    /// header, or a row that does not parse).
    public static func records(fromMetricsCSV text: String) -> [EpochRecord]? {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
        guard lines.first == metricsCSV([]).trimmingCharacters(in: .newlines) else { return nil }
        lines.removeFirst()
        var records = [EpochRecord]()
        for line in lines {
            let fields = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            guard fields.count == 7, let epoch = Int(fields[0]), let loss = Double(fields[1]), let train = Double(fields[2]),
                  let rate = Double(fields[4]), let speed = Double(fields[5]), let wall = Double(fields[6]) else { return nil }
            let validation = fields[3].isEmpty ? nil : Double(fields[3])
            if !fields[3].isEmpty && validation == nil { return nil }
            records.append(EpochRecord(epoch: epoch, loss: loss, trainAccuracy: train, validationAccuracy: validation,
                                       learningRate: rate, imagesPerSecond: speed, wallSeconds: wall))
        }
        return records
    }

    /// curves.svg: training loss (left) and accuracies (right) against the epoch. Each epoch's
    /// figures sit at the epoch's end; with `axis` (a run's steps), a fractional last epoch ends
    /// where its last step does, the validation trace (`trace`, every N steps) is drawn at its steps,
    /// and the x axis spans the whole planned run, so a page written mid-run shows how far it got.
    public static func curvesSVG(_ records: [EpochRecord], trace: [ValidationPoint] = [], axis: EpochAxis? = nil) -> String {
        let end = axis.map { Double($0.totalSteps) / Double($0.stepsPerEpoch) }
        func x(_ r: EpochRecord) -> Double { min(Double(r.epoch), end ?? .infinity) }
        let loss = records.map { (x($0), $0.loss) }
        let xMax = max(end ?? 0, records.last.map(x) ?? 0, 1)
        let lossMax = records.map(\.loss).filter(\.isFinite).max() ?? 1
        let (w, h) = (460.0, 330.0)
        var svg = SVGChart.linePanel(x: 0, y: 0, width: w, height: h, title: "training loss", xTitle: "epoch", yTitle: "loss (mean per image)",
                                     xRange: (0, xMax), yRange: (0, max(lossMax, 1e-6) * 1.1),
                                     series: [SVGChart.Series(label: "training loss", colour: SVGChart.colours.loss, points: loss)])
        var accuracy = [SVGChart.Series(label: "train (during the epoch)", colour: SVGChart.colours.train, points: records.map { (x($0), $0.trainAccuracy) })]
        if let axis, !trace.isEmpty {
            let points = trace.map { (Double($0.step) / Double(axis.stepsPerEpoch), $0.accuracy) }
            accuracy.append(SVGChart.Series(label: "validation", colour: SVGChart.colours.validation, points: points))
        } else {
            let points = records.compactMap { r in r.validationAccuracy.map { (x(r), $0) } }
            if !points.isEmpty { accuracy.append(SVGChart.Series(label: "validation", colour: SVGChart.colours.validation, points: points)) }
        }
        svg += SVGChart.linePanel(x: w + 20, y: 0, width: w, height: h, title: "accuracy", xTitle: "epoch", yTitle: "accuracy",
                                  xRange: (0, xMax), yRange: (0, 1), series: accuracy, yPercent: true)
        return SVGChart.document(width: 2 * w + 20, height: h, svg)
    }

    /// The confusion matrix: counts[true label][predicted label].
    public static func confusionMatrix(labels: [Int], predictions: [Int], classes: Int = 10) -> [[Int]] {
        var m = [[Int]](repeating: [Int](repeating: 0, count: classes), count: classes)
        for (l, p) in zip(labels, predictions) where l < classes && p < classes { m[l][p] += 1 }
        return m
    }

    /// Per-class accuracy (recall): the diagonal over each row's total.
    public static func perClassAccuracy(_ matrix: [[Int]]) -> [Double] {
        matrix.enumerated().map { i, row in
            let total = row.reduce(0, +)
            return total == 0 ? 0 : Double(row[i]) / Double(total)
        }
    }

    /// per-class.csv: class, images, correct, accuracy.
    public static func perClassCSV(_ matrix: [[Int]], classNames: [String]) -> String {
        var out = "class,images,correct,accuracy\n"
        for (i, row) in matrix.enumerated() {
            let total = row.reduce(0, +)
            out += "\(classNames[i]),\(total),\(row[i]),\(String(format: "%.4f", total == 0 ? 0 : Double(row[i]) / Double(total)))\n"
        }
        return out
    }

    /// confusion.svg: the matrix as shaded cells with counts, true class down, predicted across,
    /// and each class's accuracy at the end of its row. Margins grow with the class names (names
    /// longer than 22 characters are cut with an ellipsis); a key under the matrix says what the
    /// shades mean.
    public static func confusionSVG(_ matrix: [[Int]], classNames: [String], title: String) -> String {
        let n = matrix.count
        let names = (0 ..< n).map { SVGChart.truncated($0 < classNames.count ? classNames[$0] : "class \($0)", to: 22) }
        let widest = names.map { SVGChart.textWidth($0, size: 11) }.max() ?? 40
        let counts = matrix.flatMap { $0 }.map { "\($0)" }
        let cell = max(46.0, (counts.map { SVGChart.textWidth($0, size: 11) }.max() ?? 0) + 10)
        let left = 34 + widest + 10
        // Column names are rotated by 45 degrees: their height is width x sin 45.
        let top = 64 + widest * 0.71 + 10
        let matrixWidth = cell * Double(n)
        let titleWidth = SVGChart.textWidth(title, size: 14)
        let width = max(left + matrixWidth + 80, titleWidth + 20)
        let height = top + matrixWidth + 62
        var s = SVGChart.text(title, x: 10, y: 22, size: 14)
        s += SVGChart.text("predicted class", x: left + matrixWidth / 2, y: 48, anchor: "middle")
        let accuracy = perClassAccuracy(matrix)
        for (i, name) in names.enumerated() {
            let centre = top + cell * (Double(i) + 0.5)
            let cx = left + cell * (Double(i) + 0.5)
            s += SVGChart.text(name, x: cx - 2, y: top - 8, size: 11, rotate: -45)
            s += SVGChart.text(name, x: left - 6, y: centre + 4, anchor: "end", size: 11)
            s += SVGChart.text(String(format: "%.1f%%", 100 * accuracy[i]), x: left + matrixWidth + 8, y: centre + 4, size: 11)
        }
        for (i, row) in matrix.enumerated() {
            let total = max(row.reduce(0, +), 1)
            for (j, count) in row.enumerated() {
                let f = Double(count) / Double(total)
                let shade = Int(255 * (1 - f))
                let fill = i == j ? "rgb(\(shade),\(Int(155 + 100 * (1 - f))),\(shade))" : "rgb(255,\(shade),\(shade))"
                let x = left + cell * Double(j), y = top + cell * Double(i)
                s += "<rect x=\"\(x)\" y=\"\(y)\" width=\"\(cell)\" height=\"\(cell)\" fill=\"\(fill)\" stroke=\"#ccc\"/>"
                s += SVGChart.text("\(count)", x: x + cell / 2, y: y + cell / 2 + 4, anchor: "middle", size: 11, fill: f > 0.5 ? "white" : "black")
            }
        }
        s += SVGChart.text("accuracy", x: left + matrixWidth + 8, y: top - 8, size: 11)
        s += SVGChart.text("true class", x: 16, y: top + matrixWidth / 2, anchor: "middle", rotate: -90)
        let keyY = top + matrixWidth + 24
        s += "<rect x=\"\(left)\" y=\"\(keyY - 10)\" width=\"12\" height=\"12\" fill=\"rgb(0,155,0)\"/>"
        s += SVGChart.text("correct", x: left + 16, y: keyY, size: 11)
        s += "<rect x=\"\(left + 76)\" y=\"\(keyY - 10)\" width=\"12\" height=\"12\" fill=\"rgb(255,0,0)\"/>"
        s += SVGChart.text("confused", x: left + 92, y: keyY, size: 11)
        s += SVGChart.text("darker: a larger share of the true class's images", x: left, y: keyY + 18, size: 11)
        return SVGChart.document(width: width, height: height, s)
    }
}

/// Where a run's steps fall on the curves' epoch axis: the last epoch of a fractional run ends
/// part-way, and validation points come every N steps.
public struct EpochAxis: Sendable, Equatable {
    /// Optimiser steps in a full epoch.
    public var stepsPerEpoch: Int
    /// Optimiser steps of the whole run.
    public var totalSteps: Int

    /// An axis for a run of `totalSteps` steps, `stepsPerEpoch` to an epoch.
    public init(stepsPerEpoch: Int, totalSteps: Int) {
        self.stepsPerEpoch = max(stepsPerEpoch, 1)
        self.totalSteps = totalSteps
    }
}

/// One evaluation of the tracked validation images during training.
public struct ValidationPoint: Sendable, Codable, Equatable {
    /// Optimiser steps completed.
    public var step: Int
    /// Training wall time so far (without evaluations and whitening), seconds.
    public var trainingSeconds: Double
    /// Accuracy of the plain forward pass.
    public var accuracy: Double

    /// A point of the given figures.
    public init(step: Int, trainingSeconds: Double, accuracy: Double) {
        self.step = step
        self.trainingSeconds = trainingSeconds
        self.accuracy = accuracy
    }
}

/// A finished run's figures: where the time went, speed, accuracies and the validation trace.
/// Written as run.json.
public struct RunReport: Sendable, Codable, Equatable {
    /// The architecture trained.
    public var architecture: String
    /// The recipe followed.
    public var recipe: Recipe
    /// Images trained on, held out, and evaluated during training.
    public var trainingImages: Int, validationImages: Int, trackedValidationImages: Int
    /// Optimiser steps, images per step, and epochs asked for.
    public var steps: Int, batchSize: Int, epochs: Double
    /// Seconds computing the whitening weights (airbench), training, evaluating the validation
    /// images during training, and evaluating the test images at the end (with test-time augmentation).
    public var whiteningSeconds: Double, trainingSeconds: Double, validationSeconds: Double, testSeconds: Double
    /// Seconds reading the data (`CIFAR10Data.loadingSeconds`), and the whole wall time from the
    /// start of that reading to the test accuracy. A resumed run's whole time is its last
    /// session's (`resumed`), while `trainingSeconds` counts every session.
    public var dataLoadingSeconds: Double, wallSeconds: Double
    /// Whether the last session continued a stopped run from its checkpoint.
    public var resumed: Bool
    /// Training images per second of training time.
    public var trainingImagesPerSecond: Double
    /// Multiply-adds x 2 of the convolutions and linear layers for one image's forward pass.
    public var forwardFLOPsPerImage: Double
    /// The test-time augmentation of `testAccuracy`.
    public var testTimeAugmentation: TestTimeAugmentation
    /// Test images scored, and the accuracies with and without the test-time augmentation.
    public var testImages: Int, testAccuracy: Double, plainTestAccuracy: Double
    /// The precision of the training steps' products and of the evaluations (validation and test).
    public var trainingPrecision: Precision?, evaluationPrecision: Precision?
    /// The validation evaluations, in order.
    public var trace: [ValidationPoint]

    /// Effective GFLOP/s of training: 3 x the forward FLOPs (forward, and a backward pass
    /// counted as twice the forward) per image, times images per second.
    public var effectiveGFLOPS: Double { 3 * forwardFLOPsPerImage * trainingImagesPerSecond / 1e9 }

    /// The whole run's seconds not spent reading data, training, whitening or evaluating:
    /// building the network, checkpoints, report pages (nil for a resumed run, whose parts
    /// span sessions its whole time does not).
    public var otherSeconds: Double? {
        resumed ? nil : max(wallSeconds - dataLoadingSeconds - whiteningSeconds - trainingSeconds - validationSeconds - testSeconds, 0)
    }

    /// The training time at the first validation evaluation reaching `accuracy` (nil: never).
    public func secondsTo(_ accuracy: Double) -> Double? {
        trace.first { $0.accuracy >= accuracy }?.trainingSeconds
    }

    /// The report as JSON, with the derived figures (effective GFLOP/s, time to 90/93/94%).
    public var json: String {
        var lines = [String]()
        func add(_ key: String, _ value: String) { lines.append("  \"\(key)\": \(value)") }
        func number(_ x: Double) -> String { x.isFinite ? String(format: "%.6g", x) : "null" }
        add("architecture", "\"\(architecture)\"")
        add("recipe", "\"\(recipe.rawValue)\"")
        add("training_images", "\(trainingImages)")
        add("validation_images", "\(validationImages)")
        add("tracked_validation_images", "\(trackedValidationImages)")
        add("steps", "\(steps)")
        add("batch_size", "\(batchSize)")
        add("epochs", number(epochs))
        add("whitening_seconds", number(whiteningSeconds))
        add("training_seconds", number(trainingSeconds))
        add("validation_seconds", number(validationSeconds))
        add("test_seconds", number(testSeconds))
        add("data_loading_seconds", number(dataLoadingSeconds))
        add("wall_seconds", number(wallSeconds))
        add("resumed", resumed ? "true" : "false")
        add("training_images_per_second", number(trainingImagesPerSecond))
        add("forward_flops_per_image", number(forwardFLOPsPerImage))
        add("effective_gflops", number(effectiveGFLOPS))
        add("test_time_augmentation", "\"\(testTimeAugmentation.rawValue)\"")
        add("test_images", "\(testImages)")
        add("test_accuracy", number(testAccuracy))
        add("plain_test_accuracy", number(plainTestAccuracy))
        add("training_precision", trainingPrecision.map { "\"\($0.rawValue)\"" } ?? "null")
        add("evaluation_precision", evaluationPrecision.map { "\"\($0.rawValue)\"" } ?? "null")
        for target in [0.90, 0.93, 0.94] {
            add("training_seconds_to_\(Int(target * 100))", secondsTo(target).map(number) ?? "null")
        }
        let points = trace.map { "{\"step\": \($0.step), \"training_seconds\": \(number($0.trainingSeconds)), \"accuracy\": \(number($0.accuracy))}" }
        add("validation_trace", "[" + points.joined(separator: ", ") + "]")
        return "{\n" + lines.joined(separator: ",\n") + "\n}\n"
    }
}
