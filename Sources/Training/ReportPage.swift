import Foundation
import ImageIO
import Kernels

/// A test image on the report: its place in the split, its true and predicted classes with their
/// probabilities, and its pixels.
public struct ReportExample: Sendable, Equatable {
    /// Index in the scored split.
    public var index: Int
    /// True and predicted label.
    public var label: Int, predicted: Int
    /// The probability of the predicted class, and of the true one.
    public var probability: Float, labelProbability: Float
    /// The image's 3,072 CHW bytes.
    public var pixels: [UInt8]

    /// Whether the prediction is wrong.
    public var isMistake: Bool { label != predicted }

    /// Up to `count` images of `split` as `evaluation` scored them: the mistakes first, most
    /// confident first (at most two thirds of `count` while correct ones remain to fill the rest),
    /// then correctly classified images in split order.
    public static func select(from split: CIFARSplit, evaluation: Evaluation, count: Int = 48) -> [ReportExample] {
        func example(_ i: Int) -> ReportExample {
            ReportExample(index: i, label: Int(split.labels[i]), predicted: evaluation.predictions[i],
                          probability: evaluation.probability(of: evaluation.predictions[i], image: i),
                          labelProbability: evaluation.probability(of: Int(split.labels[i]), image: i), pixels: Array(split.image(i)))
        }
        let n = min(split.count, evaluation.predictions.count)
        let mistakes = (0 ..< n).filter { evaluation.predictions[$0] != Int(split.labels[$0]) }
            .sorted { evaluation.probability(of: evaluation.predictions[$0], image: $0) > evaluation.probability(of: evaluation.predictions[$1], image: $1) }
        let correct = (0 ..< n).lazy.filter { evaluation.predictions[$0] == Int(split.labels[$0]) }
        let correctShown = Array(correct.prefix(count))
        let mistakesShown = min(mistakes.count, max(count * 2 / 3, count - correctShown.count))
        let chosen = Array(mistakes.prefix(mistakesShown)) + correctShown.prefix(count - mistakesShown)
        return chosen.map(example)
    }
}

/// The training report, report.html: what `train-cifar` leaves for a person to open (rewritten
/// at each epoch while training, so reloading shows progress) and what `evaluate` writes for a
/// saved model. Built from Training's own figures; rendered with ImageIO's `HTMLPage`, with the
/// charts inline as SVG and the small images as PNG files in `report_files/` beside the page.
public struct TrainingReportPage: Sendable {
    /// Where the run stands when the page is written.
    public enum Status: Sendable, Equatable {
        /// Training: `epochsDone` of `epochs` finished. The page reloads itself.
        case running(epochsDone: Int, epochs: Int)
        /// Stopped with a checkpoint after `epochsDone` of `epochs` (part of the next may be done).
        case stopped(epochsDone: Int, epochs: Int)
        /// Done: the page will not change.
        case finished
    }

    /// The curves' data.
    public struct Curves: Sendable {
        /// One record per finished epoch.
        public var records: [EpochRecord]
        /// Validation evaluations every N steps (may be empty).
        public var trace: [ValidationPoint]
        /// The run's steps (nil: only the records are known, each at its whole epoch).
        public var axis: EpochAxis?

        /// Curves of `records`, `trace` placed on `axis`.
        public init(records: [EpochRecord], trace: [ValidationPoint] = [], axis: EpochAxis? = nil) {
            self.records = records
            self.trace = trace
            self.axis = axis
        }
    }

    /// The page's file name.
    public static let fileName = "report.html"
    /// The folder, beside the page, of its PNG files.
    public static let assetsFolder = "report_files"
    /// Seconds between reloads of a page written while training runs.
    public static let refreshSeconds = 20
    /// Test images whose activations the page shows.
    public static let inspectedImages = 64
    /// The files a training run writes beside the page, linked from it.
    public static let runFiles = ["model.safetensors", "metrics.csv", "curves.svg", "confusion.svg", "per-class.csv", "run.json"]
    /// Pixels on a side of a test image on the page (32 x 3).
    static let exampleSide = 96

    /// The heading.
    public var title: String
    /// Where the run stands.
    public var status: Status = .finished
    /// Headline figures (accuracies, wall times) as label and value.
    public var summary: [(String, String)] = []
    /// The loss and accuracy curves (nil: none available).
    public var curves: Curves?
    /// A sentence about the curves: where they come from, or why there are none.
    public var curvesNote: String?
    /// Class names by label.
    public var classNames: [String]
    /// The split the confusion matrix and the examples come from ("test", "validation").
    public var splitName = "test"
    /// counts[true][predicted] on that split (nil: not scored yet).
    public var confusion: [[Int]]?
    /// Images with their predictions, mistakes first.
    public var examples: [ReportExample] = []
    /// How the examples' probabilities were computed.
    public var probabilityNote = ""
    /// Weights, activations and first-layer filters (nil: not inspected).
    public var inspection: ModelInspection?
    /// The run's settings as label and value.
    public var configuration: [(String, String)] = []
    /// The machine and precision as label and value.
    public var environment: [(String, String)] = []
    /// The command that reproduces the run (nil: not known).
    public var command: String?
    /// Files beside the page to link to (names in the page's folder that exist are linked).
    public var files: [String] = []

    /// An empty page titled `title` for classes `classNames`.
    public init(title: String, classNames: [String]) {
        self.title = title
        self.classNames = classNames
    }

    /// `options` as label and value, every stored setting (enums by their flag spelling, a
    /// setting not given as "none").
    public static func settings(_ options: TrainingOptions) -> [(String, String)] {
        Mirror(reflecting: options).children.compactMap { child in
            guard let label = child.label else { return nil }
            return (label, describe(child.value))
        }
    }

    private static func describe(_ value: Any) -> String {
        let mirror = Mirror(reflecting: value)
        if mirror.displayStyle == .optional {
            guard let inner = mirror.children.first?.value else { return "none" }
            return describe(inner)
        }
        if let raw = value as? any RawRepresentable, let text = raw.rawValue as? String { return text }
        return "\(value)"
    }

    /// The machine and precision rows: the CPU (`machine`, its model name when known), the
    /// extensions the kernels use, the bf16 path, threads and the products' precision.
    public static func environment(machine: String?, training: Precision?, evaluation: Precision) -> [(String, String)] {
        var rows = [(String, String)]()
        if let machine { rows.append(("CPU", machine)) }
        rows.append(("kernel extensions used", CPUFeatures.enabled.description))
        rows.append(("bf16 products run on", CPUFeatures.enabled.bf16Path.rawValue))
        rows.append(("threads", "\(Parallelism.threadCount)"))
        if let training { rows.append(("training products", training.rawValue)) }
        rows.append(("evaluation products", evaluation.rawValue))
        return rows
    }

    /// The headline figures of a finished run: test accuracies, the whole wall time and its
    /// parts (data loading, training, evaluations), time to 90/93/94%.
    public static func summary(of r: RunReport) -> [(String, String)] {
        var rows = [(String, String)]()
        if r.testTimeAugmentation != .none {
            rows.append(("test accuracy, \(r.testTimeAugmentation.rawValue) test-time augmentation", String(format: "%.4f on %d images", r.testAccuracy, r.testImages)))
        }
        rows.append(("test accuracy, plain forward pass", String(format: "%.4f on %d images", r.plainTestAccuracy, r.testImages)))
        rows.append(("whole run", String(format: "%.1f s from reading the data to the test accuracy", r.wallSeconds)
            + (r.resumed ? " (the last session; training time counts every session)" : "")))
        rows.append(("data loading", String(format: "%.1f s", r.dataLoadingSeconds)))
        rows.append(("training time", String(format: "%.1f s (%.0f images/s, %.1f effective GFLOP/s)", r.trainingSeconds, r.trainingImagesPerSecond, r.effectiveGFLOPS)))
        if r.whiteningSeconds > 0 { rows.append(("whitening", String(format: "%.2f s", r.whiteningSeconds))) }
        if r.trackedValidationImages > 0 { rows.append(("validation during training", String(format: "%.1f s", r.validationSeconds))) }
        rows.append(("test evaluation", String(format: "%.1f s", r.testSeconds)))
        if let other = r.otherSeconds { rows.append(("other (building the network, checkpoints, report pages)", String(format: "%.1f s", other))) }
        if !r.trace.isEmpty {
            let reached = [0.90, 0.93, 0.94].map { t in r.secondsTo(t).map { String(format: "%.0f%% at %.1f s", t * 100, $0) } ?? String(format: "%.0f%% not reached", t * 100) }
            rows.append(("validation accuracy reached (training time)", reached.joined(separator: ", ")))
        }
        rows.append(("steps", "\(r.steps) of \(r.batchSize) images (\(r.epochs) epochs)"))
        return rows
    }

    /// The page `evaluate` writes for the saved model at `modelPath` scored on `split` (named
    /// `splitName`) with `tta`, `seconds` of wall time: accuracies, the confusion matrix, the
    /// examples, weights and activations, the model's settings; the curves only when the model's
    /// folder holds the metrics.csv its training run wrote (the page says which).
    public static func evaluation(of classifier: Classifier, modelPath: String, split: CIFARSplit, splitName: String,
                                  outcome: Evaluation, tta: TestTimeAugmentation, seconds: Double,
                                  machine: String?, evaluationPrecision: Precision, command: String?) -> TrainingReportPage {
        var page = TrainingReportPage(title: "Evaluation report: \(modelPath)", classNames: classifier.classNames)
        page.splitName = splitName
        var summary = [(String, String)]()
        if tta != .none {
            summary.append(("\(splitName) accuracy, \(tta.rawValue) test-time augmentation", String(format: "%.4f on %d images", outcome.accuracy, split.count)))
        }
        summary.append(("\(splitName) accuracy, plain forward pass", String(format: "%.4f on %d images", outcome.plainAccuracy, split.count)))
        summary.append(("evaluation time", String(format: "%.1f s", seconds)))
        page.summary = summary
        let metrics = ((modelPath as NSString).deletingLastPathComponent as NSString).appendingPathComponent("metrics.csv")
        if let text = try? String(contentsOfFile: metrics, encoding: .utf8), let records = Reports.records(fromMetricsCSV: text) {
            page.curves = Curves(records: records)
            page.curvesNote = "From \(metrics), the training run's per-epoch figures (each at its whole epoch; the validation trace between epochs is in run.json)."
        } else {
            page.curvesNote = "No curves: \(metrics), the training run's per-epoch figures, is not there or not readable (only a model file was given)."
        }
        page.confusion = Reports.confusionMatrix(labels: split.labels.map(Int.init), predictions: outcome.predictions, classes: classifier.classNames.count)
        page.examples = ReportExample.select(from: split, evaluation: outcome)
        page.probabilityNote = probabilityNote(tta)
        page.inspection = ModelInspection.inspect(classifier, images: split.prefix(inspectedImages))
        let parameters = classifier.network.namedParameters.map(\.parameter.value.count).reduce(0, +)
        page.configuration = [
            ("model file", modelPath), ("architecture", classifier.architecture), ("parameters", "\(parameters)"),
            ("classes", classifier.classNames.joined(separator: ", ")),
            ("input mean", classifier.normalization.mean.map { String(format: "%.4f", $0) }.joined(separator: ", ")),
            ("input std", classifier.normalization.std.map { String(format: "%.4f", $0) }.joined(separator: ", ")),
            ("held-out validation split", classifier.validationSplit.map { "\($0.count) of the first \($0.pool) training images" } ?? "none recorded"),
            ("scored", "\(split.count) \(splitName) images"), ("test-time augmentation", tta.rawValue),
        ]
        page.environment = environment(machine: machine, training: classifier.trainingPrecision, evaluation: evaluationPrecision)
        page.command = command
        page.files = ["confusion.svg", "per-class.csv"]
        return page
    }

    /// The sentence saying where the examples' probabilities come from.
    public static func probabilityNote(_ tta: TestTimeAugmentation) -> String {
        tta == .none
            ? "Probabilities: softmax of the plain forward pass's logits."
            : "Probabilities: softmax of the evaluation logits, the weighted sum over the \(tta.views.count) views of the \(tta.rawValue) test-time augmentation."
    }

    /// Writes the PNG files into `folder/report_files` and then the page, atomically, as
    /// `folder/report.html`; returns the page's path.
    @discardableResult
    public func write(toFolder folder: String) throws -> String {
        let assets = (folder as NSString).appendingPathComponent(Self.assetsFolder)
        try AtomicFile.createDirectories(assets)
        if let filters = inspection?.filters {
            try writePNG(filters, toPath: (assets as NSString).appendingPathComponent("filters.png"))
        }
        for example in examples {
            var tile = Image(width: Self.exampleSide, height: Self.exampleSide, channels: 3,
                             pixels: [UInt8](repeating: 0, count: Self.exampleSide * Self.exampleSide * 3))
            tile.drawCIFARImage(example.pixels[...], x: 0, y: 0, scale: Self.exampleSide / CIFAR10.side)
            try writePNG(tile, toPath: (assets as NSString).appendingPathComponent(Self.exampleFile(example.index)))
        }
        let path = (folder as NSString).appendingPathComponent(Self.fileName)
        let existing = files.filter { FileManager.default.fileExists(atPath: (folder as NSString).appendingPathComponent($0)) }
        try page(linking: existing).write(toPath: path)
        return path
    }

    /// The PNG file of example `index`, in `assetsFolder`.
    static func exampleFile(_ index: Int) -> String { String(format: "%@-%05d.png", "test", index) }

    /// The whole document (links to `files`, as given).
    public func render() -> String { page(linking: files).render() }

    private func page(linking files: [String]) -> HTMLPage {
        var body = "<h1>\(e(title))</h1>\n"
        switch status {
        case .running(let done, let epochs):
            let doing = done < epochs ? "epoch \(done + 1) of \(epochs) (\(done) finished)" : "epoch \(epochs) of \(epochs) finished; scoring the test images"
            body += "<p class=\"status running\">running: \(doing). Written \(timestamp()); this page reloads every \(Self.refreshSeconds) s.</p>\n"
        case .stopped(let done, let epochs):
            body += "<p class=\"status stopped\">stopped after epoch \(done) of \(epochs), written \(timestamp()). The checkpoint in this folder continues the run (the same command with resume).</p>\n"
        case .finished:
            break
        }
        if !summary.isEmpty { body += "<h2>Summary</h2>\n" + table(summary) }
        body += curvesSection()
        body += confusionSection()
        body += examplesSection()
        body += inspectionSection()
        body += "<h2>Configuration</h2>\n" + table(configuration)
        body += "<h3>Machine and precision</h3>\n" + table(environment)
        if let command { body += "<h3>Command that reproduces it</h3>\n<pre class=\"command\"><code>\(e(command))</code></pre>\n" }
        if !files.isEmpty {
            body += "<h2>Files</h2>\n<ul>" + files.map { "<li><a href=\"\(HTMLPage.relativeURL($0))\">\(e($0))</a></li>" }.joined() + "</ul>\n"
        }
        let refresh: Int? = if case .running = status { Self.refreshSeconds } else { nil }
        return HTMLPage(title: title, body: body, extraStyle: Self.style, refreshSeconds: refresh)
    }

    private func curvesSection() -> String {
        var s = "<h2>Loss and accuracy</h2>\n"
        if let note = curvesNote { s += "<p class=\"meta\">\(e(note))</p>\n" }
        if let curves {
            s += curves.records.isEmpty ? "<p>No epoch has finished yet.</p>\n"
                : "<div class=\"chart\">" + Reports.curvesSVG(curves.records, trace: curves.trace, axis: curves.axis) + "</div>\n"
            if !curves.records.isEmpty {
                let rows = curves.records.map { r in
                    [String(r.epoch), String(format: "%.4f", r.loss), String(format: "%.4f", r.trainAccuracy),
                     r.validationAccuracy.map { String(format: "%.4f", $0) } ?? "", String(format: "%.4g", r.learningRate),
                     String(format: "%.0f", r.imagesPerSecond), String(format: "%.1f", r.wallSeconds)]
                }
                s += "<details><summary>per-epoch figures</summary>\n"
                s += grid(["epoch", "loss", "train accuracy", "validation accuracy", "learning rate", "images/s", "training s"], rows)
                s += "</details>\n"
            }
        }
        return s
    }

    private func confusionSection() -> String {
        guard let confusion else { return "" }
        var s = "<h2>Confusion matrix and per-class accuracy (\(e(splitName)) set)</h2>\n"
        let total = confusion.flatMap { $0 }.reduce(0, +)
        let correct = confusion.indices.map { confusion[$0][$0] }.reduce(0, +)
        let title = "\(splitName) set: \(total) images, accuracy \(String(format: "%.4f", Double(correct) / Double(max(total, 1))))"
        s += "<div class=\"chart\">" + Reports.confusionSVG(confusion, classNames: classNames, title: title) + "</div>\n"
        let rows: [[String]] = confusion.enumerated().map { i, row in
            let images = row.reduce(0, +)
            let worst = row.enumerated().filter { $0.offset != i && $0.element > 0 }.max { $0.element < $1.element }
            return [name(i), "\(images)", "\(row[i])", String(format: "%.1f%%", 100 * Double(row[i]) / Double(max(images, 1))),
                    worst.map { "\(name($0.offset)) (\($0.element))" } ?? "none"]
        }
        s += grid(["class", "images", "correct", "accuracy", "most often taken for"], rows, leftColumns: [0, 4], rowClass: "class-row")
        return s
    }

    private func examplesSection() -> String {
        guard !examples.isEmpty else { return "" }
        let mistakes = examples.filter(\.isMistake).count
        var s = "<h2>\(e(splitName.prefix(1).uppercased() + splitName.dropFirst())) images: predicted and true class</h2>\n"
        s += "<p class=\"meta\">\(mistakes) mistakes first (most confident first, red), then \(examples.count - mistakes) correctly classified images (green). "
            + "Under each image: its index, the predicted class in bold with its probability and, for a mistake, the true class with its probability. \(e(probabilityNote))</p>\n<div class=\"examples\">\n"
        for x in examples {
            let verdict = x.isMistake ? "mistake" : "correct"
            var caption = "<b>\(e(name(x.predicted)))</b> \(percent(x.probability))"
            if x.isMistake { caption += "<br>true: \(e(name(x.label))) \(percent(x.labelProbability))" }
            s += "<figure class=\"example \(verdict)\"><img src=\"\(Self.assetsFolder)/\(HTMLPage.relativeURL(Self.exampleFile(x.index)))\" width=\"\(Self.exampleSide)\" height=\"\(Self.exampleSide)\" alt=\"\(e(splitName)) image \(x.index)\" loading=\"lazy\">"
            s += "<figcaption>#\(x.index) \(verdict == "mistake" ? "<span class=\"error\">wrong</span>" : "<span class=\"ok\">right</span>")<br>\(caption)</figcaption></figure>\n"
        }
        return s + "</div>\n"
    }

    private func inspectionSection() -> String {
        guard let inspection else { return "" }
        var s = "<h2>First-layer filters</h2>\n"
        if let filters = inspection.filters {
            s += "<p><img src=\"\(Self.assetsFolder)/filters.png\" width=\"\(filters.width)\" height=\"\(filters.height)\" alt=\"first-layer filters\"></p>\n"
        }
        s += "<p class=\"meta\">\(e(inspection.filterNote))</p>\n"
        s += "<h2>Weights</h2>\n<p class=\"meta\">Every parameter tensor; histograms for the convolution and linear weights. "
            + "Each histogram's axis runs from the \(Self.quantileText(ValueSummary.tail)) to the \(Self.quantileText(1 - ValueSummary.tail)) quantile of its values; "
            + "values beyond it are counted in the end bins (the legend says how many), and min and max are in the table.</p>\n"
        s += figuresTable(inspection.weights)
        s += histograms(inspection.weights.filter { $0.shape.count >= 2 }, xTitle: "weight value")
        s += "<h2>Activations</h2>\n<p class=\"meta\">The output of each layer on the first \(inspection.activationImages) \(e(splitName)) images "
            + "(evaluation mode, fp32). Where at least \(Int(ValueSummary.zeroShareLimit * 100))% of the outputs are exactly zero, the histogram shows the others and its legend says how many zeros it leaves out.</p>\n"
        s += figuresTable(inspection.activations)
        s += histograms(inspection.activations, xTitle: "output value")
        return s
    }

    private func figuresTable(_ figures: [LayerFigures]) -> String {
        let rows = figures.map { f in
            [f.name, f.shape.map(String.init).joined(separator: "x"), "\(f.summary.count)", number(f.summary.mean), number(f.summary.std),
             number(f.summary.min), number(f.summary.max), String(format: "%.1f%%", 100 * f.summary.zeroFraction)]
        }
        return grid(["name", "shape", "values", "mean", "std", "min", "max", "zeros"], rows, leftColumns: [0, 1])
    }

    private func histograms(_ figures: [LayerFigures], xTitle: String) -> String {
        guard !figures.isEmpty else { return "" }
        let charts = figures.map { f in
            let legend = f.summary.excludesZeros
                ? String(format: "non-zero values (%.0f%% zeros left out)", 100 * f.summary.zeroFraction)
                : "all \(f.summary.count) values"
            var notes = ["mean \(number(f.summary.mean)), std \(number(f.summary.std))" + (f.summary.excludesZeros ? " (all values)" : "")]
            if f.summary.outside > 0 { notes.append("\(f.summary.outside) beyond the axis (in the end bins)") }
            return SVGChart.histogram(title: f.name, counts: f.summary.histogram, lo: f.summary.lo, hi: f.summary.hi,
                                      total: f.summary.histogramTotal, xTitle: xTitle,
                                      yTitle: f.summary.excludesZeros ? "share of non-zero values" : "share of values", legend: legend, notes: notes)
        }
        return "<div class=\"charts\">\n" + charts.joined() + "</div>\n"
    }

    private func table(_ rows: [(String, String)]) -> String {
        "<table>\n" + rows.map { "<tr><th class=\"left\">\(e($0.0))</th><td class=\"left\">\(e($0.1))</td></tr>\n" }.joined() + "</table>\n"
    }

    private func grid(_ header: [String], _ rows: [[String]], leftColumns: Set<Int> = [], rowClass: String? = nil) -> String {
        func cells(_ row: [String], tag: String) -> String {
            row.enumerated().map { "<\(tag)\(leftColumns.contains($0.offset) ? " class=\"left\"" : "")>\(e($0.element))</\(tag)>" }.joined()
        }
        let tr = rowClass.map { "<tr class=\"\($0)\">" } ?? "<tr>"
        return "<table>\n<tr>" + cells(header, tag: "th") + "</tr>\n" + rows.map { tr + cells($0, tag: "td") + "</tr>\n" }.joined() + "</table>\n"
    }

    private static func quantileText(_ q: Double) -> String { String(format: "%g%%", 100 * q) }

    private func name(_ label: Int) -> String { label < classNames.count ? classNames[label] : "class \(label)" }
    private func e(_ text: some StringProtocol) -> String { HTMLPage.escape(String(text)) }
    private func percent(_ p: Float) -> String { String(format: "%.1f%%", 100 * p) }
    private func number(_ v: Double) -> String { String(format: "%.4g", v) }

    private func timestamp() -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd HH:mm:ss 'UTC'"
        return formatter.string(from: Date())
    }

    private static let style = """
    .status { padding: 0.4rem 0.7rem; border-left: 4px solid #e0a800; background: #fff6d6; }
    .status.stopped { border-color: #a40000; background: #fde8e8; }
    .chart svg, .charts svg { max-width: 100%; height: auto; }
    .charts { display: flex; flex-wrap: wrap; gap: 0.5rem; }
    .examples { display: flex; flex-wrap: wrap; gap: 0.25rem; }
    .examples figure { margin: 0.2rem; width: 120px; }
    .examples img { width: 96px; height: 96px; }
    figure.mistake img { border: 3px solid #c0392b; } figure.correct img { border: 3px solid #2e8b57; }
    details { margin: 0.5rem 0; }
    pre.command { white-space: pre; }

    """
}
