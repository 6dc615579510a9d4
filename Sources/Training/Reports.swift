import Foundation

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

    /// curves.svg: training loss (left) and accuracies (right) against the epoch.
    public static func curvesSVG(_ records: [EpochRecord]) -> String {
        let epochs = records.map { Double($0.epoch) }
        let loss = records.map(\.loss)
        let train = records.map(\.trainAccuracy)
        let validation = records.compactMap { r in r.validationAccuracy.map { (Double(r.epoch), $0) } }
        var svg = #"<svg xmlns="http://www.w3.org/2000/svg" width="900" height="340" font-family="sans-serif" font-size="12">"#
        svg += #"<rect width="900" height="340" fill="white"/>"#
        svg += panel(x: 60, title: "training loss", series: [(zip(epochs, loss).map { $0 }, "#d62728", "loss")], yRange: (0, max(loss.max() ?? 1, 1e-6) * 1.05))
        var accuracy: [([(Double, Double)], String, String)] = [(zip(epochs, train).map { $0 }, "#1f77b4", "train")]
        if !validation.isEmpty { accuracy.append((validation, "#2ca02c", "validation")) }
        svg += panel(x: 510, title: "accuracy", series: accuracy, yRange: (0, 1))
        return svg + "</svg>\n"
    }

    private static func panel(x: Double, title: String, series: [([(Double, Double)], String, String)], yRange: (Double, Double)) -> String {
        let (w, h, top) = (360.0, 240.0, 40.0)
        let xs = series.flatMap { $0.0.map(\.0) }
        let xMin = 1.0, xMax = max(xs.max() ?? 1, 2)
        func px(_ v: Double) -> Double { x + (v - xMin) / (xMax - xMin) * w }
        func py(_ v: Double) -> Double { top + h - (v - yRange.0) / max(yRange.1 - yRange.0, 1e-12) * h }
        var s = "<text x=\"\(x)\" y=\"24\" font-size=\"14\">\(title)</text>"
        s += "<rect x=\"\(x)\" y=\"\(top)\" width=\"\(w)\" height=\"\(h)\" fill=\"none\" stroke=\"#888\"/>"
        for i in 0...4 {
            let v = yRange.0 + (yRange.1 - yRange.0) * Double(i) / 4
            s += "<line x1=\"\(x)\" x2=\"\(x + w)\" y1=\"\(py(v))\" y2=\"\(py(v))\" stroke=\"#eee\"/>"
            s += "<text x=\"\(x - 6)\" y=\"\(py(v) + 4)\" text-anchor=\"end\">\(String(format: "%.2f", v))</text>"
        }
        s += "<text x=\"\(x + w / 2)\" y=\"\(top + h + 30)\" text-anchor=\"middle\">epoch (1 to \(Int(xMax)))</text>"
        for (index, (points, colour, label)) in series.enumerated() {
            let path = points.map { "\(String(format: "%.1f", px($0.0))),\(String(format: "%.1f", py($0.1)))" }.joined(separator: " ")
            s += "<polyline points=\"\(path)\" fill=\"none\" stroke=\"\(colour)\" stroke-width=\"2\"/>"
            for p in points { s += "<circle cx=\"\(px(p.0))\" cy=\"\(py(p.1))\" r=\"2.5\" fill=\"\(colour)\"/>" }
            s += "<text x=\"\(x + w - 90)\" y=\"\(top + 18 + 16 * Double(index))\" fill=\"\(colour)\">\(label)</text>"
        }
        return s
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
    /// and each class's accuracy at the end of its row.
    public static func confusionSVG(_ matrix: [[Int]], classNames: [String], title: String) -> String {
        let n = matrix.count
        let cell = 46.0, left = 100.0, top = 110.0
        let width = left + cell * Double(n) + 90, height = top + cell * Double(n) + 40
        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" font-family=\"sans-serif\" font-size=\"11\">"
        s += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>"
        s += "<text x=\"\(left)\" y=\"20\" font-size=\"14\">\(title)</text>"
        s += "<text x=\"\(left + cell * Double(n) / 2)\" y=\"40\" text-anchor=\"middle\">predicted class</text>"
        let accuracy = perClassAccuracy(matrix)
        for (i, name) in classNames.prefix(n).enumerated() {
            let cx = left + cell * (Double(i) + 0.5)
            s += "<text x=\"\(cx)\" y=\"\(top - 8)\" transform=\"rotate(-45 \(cx) \(top - 8))\">\(name)</text>"
            s += "<text x=\"\(left - 6)\" y=\"\(top + cell * (Double(i) + 0.5) + 4)\" text-anchor=\"end\">\(name)</text>"
            s += "<text x=\"\(left + cell * Double(n) + 8)\" y=\"\(top + cell * (Double(i) + 0.5) + 4)\">\(String(format: "%.1f%%", 100 * accuracy[i]))</text>"
        }
        for (i, row) in matrix.enumerated() {
            let total = max(row.reduce(0, +), 1)
            for (j, count) in row.enumerated() {
                let f = Double(count) / Double(total)
                let shade = Int(255 * (1 - f))
                let fill = i == j ? "rgb(\(shade),\(Int(155 + 100 * (1 - f))),\(shade))" : "rgb(255,\(shade),\(shade))"
                let x = left + cell * Double(j), y = top + cell * Double(i)
                s += "<rect x=\"\(x)\" y=\"\(y)\" width=\"\(cell)\" height=\"\(cell)\" fill=\"\(fill)\" stroke=\"#ccc\"/>"
                s += "<text x=\"\(x + cell / 2)\" y=\"\(y + cell / 2 + 4)\" text-anchor=\"middle\" fill=\"\(f > 0.5 ? "white" : "black")\">\(count)</text>"
            }
        }
        s += "<text x=\"\(left + cell * Double(n) + 8)\" y=\"\(top - 8)\">accuracy</text>"
        s += "<text x=\"16\" y=\"\(top + cell * Double(n) / 2)\" transform=\"rotate(-90 16 \(top + cell * Double(n) / 2))\" text-anchor=\"middle\">true class</text>"
        return s + "</svg>\n"
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
    /// Training images per second of training time.
    public var trainingImagesPerSecond: Double
    /// Multiply-adds x 2 of the convolutions and linear layers for one image's forward pass.
    public var forwardFLOPsPerImage: Double
    /// The test-time augmentation of `testAccuracy`.
    public var testTimeAugmentation: TestTimeAugmentation
    /// Test images scored, and the accuracies with and without the test-time augmentation.
    public var testImages: Int, testAccuracy: Double, plainTestAccuracy: Double
    /// The validation evaluations, in order.
    public var trace: [ValidationPoint]

    /// Effective GFLOP/s of training: 3 x the forward FLOPs (forward, and a backward pass
    /// counted as twice the forward) per image, times images per second.
    public var effectiveGFLOPS: Double { 3 * forwardFLOPsPerImage * trainingImagesPerSecond / 1e9 }

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
        add("training_images_per_second", number(trainingImagesPerSecond))
        add("forward_flops_per_image", number(forwardFLOPsPerImage))
        add("effective_gflops", number(effectiveGFLOPS))
        add("test_time_augmentation", "\"\(testTimeAugmentation.rawValue)\"")
        add("test_images", "\(testImages)")
        add("test_accuracy", number(testAccuracy))
        add("plain_test_accuracy", number(plainTestAccuracy))
        for target in [0.90, 0.93, 0.94] {
            add("training_seconds_to_\(Int(target * 100))", secondsTo(target).map(number) ?? "null")
        }
        let points = trace.map { "{\"step\": \($0.step), \"training_seconds\": \(number($0.trainingSeconds)), \"accuracy\": \(number($0.accuracy))}" }
        add("validation_trace", "[" + points.joined(separator: ", ") + "]")
        return "{\n" + lines.joined(separator: ",\n") + "\n}\n"
    }
}
