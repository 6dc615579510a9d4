import Foundation
import Testing
import ImageIO
import Kernels
import Training

/// Reads report.html each time an epoch finishes (the trainer writes the page before telling
/// the observer), so the tests see the pages written mid-run.
final class PageWatcher: TrainingObserver {
    let folder: String
    var pages = [String]()
    init(folder: String) { self.folder = folder }
    func stepFinished(epoch: Int, epochs: Int, step: Int, steps: Int, imagesPerSecond: Double, loss: Double, accuracy: Double, secondsLeft: Double) {}
    func epochFinished(_ record: EpochRecord, epochs: Int) {
        pages.append((try? String(contentsOfFile: folder + "/report.html", encoding: .utf8)) ?? "")
    }
    func note(_ message: String) {}
}

/// The values of every `src="..."` and `href="..."` in `html`.
func links(in html: String) -> [String] {
    let pattern = try! NSRegularExpression(pattern: #"(?:src|href)="([^"]*)""#)
    return pattern.matches(in: html, range: NSRange(html.startIndex..., in: html)).compactMap { match in
        Range(match.range(at: 1), in: html).map { String(html[$0]).removingPercentEncoding ?? String(html[$0]) }
    }
}

/// All captures of `pattern`'s groups in `text`, match by match.
func captures(_ pattern: String, in text: String) -> [[String]] {
    let regex = try! NSRegularExpression(pattern: pattern)
    return regex.matches(in: text, range: NSRange(text.startIndex..., in: text)).map { match in
        (1 ..< match.numberOfRanges).map { Range(match.range(at: $0), in: text).map { String(text[$0]) } ?? "" }
    }
}

@Suite struct ReportPageTests {
    /// Class names with markup characters, to show the page escapes them.
    static let classNames = ["airplane", "auto<mobile>", "bird & co", "cat", "deer", "dog", "frog", "horse", "ship", "truck \"big\""]

    func tinyRun(epochs: Double = 2, loadingSeconds: Double = 0) throws -> (folder: String, data: CIFAR10Data, result: TrainingResult, pages: [String]) {
        var data = syntheticData(train: 128, test: 60)
        data.loadingSeconds = loadingSeconds
        data.classNames = Self.classNames
        data.source = "<script>alert(1)</script>"
        var o = TrainingOptions.preset(for: "c8k3p1,bn,relu,mp4,fc10")
        o.batchSize = 16
        o.epochs = epochs
        o.learningRate = 0.05
        o.threads = 2
        o.validation = 16
        o.seed = 3
        let folder = try Fixture.temporaryFolder().path
        let watcher = PageWatcher(folder: folder)
        let trainer = Trainer(options: o, data: data, outputFolder: folder, observer: watcher)
        trainer.command = "featuremaps train-cifar -o '<out & more>'"
        trainer.machine = "Test CPU"
        let result = try trainer.run()
        return (folder, data, result, watcher.pages)
    }

    @Test func aTrainingRunLeavesAReportWhosePicturesExistAndWhoseFiguresMatchTheConfusionMatrix() throws {
        let (folder, data, result, pages) = try tinyRun()
        let html = try String(contentsOfFile: folder + "/report.html", encoding: .utf8)

        // Mid-run pages reload themselves and say where the run is; the final one does neither.
        #expect(pages.count == 2)
        #expect(pages.allSatisfy { $0.contains("http-equiv=\"refresh\"") })
        #expect(pages[0].contains("running: epoch 2 of 2 (1 finished)"))
        #expect(pages[1].contains("running: epoch 2 of 2 finished"))
        #expect(!html.contains("http-equiv=\"refresh\"") && !html.contains("running:"))

        // Every picture and file the page links to exists, and nothing is fetched from elsewhere.
        let linked = links(in: html)
        #expect(linked.contains("report_files/filters.png"))
        #expect(linked.filter { $0.hasPrefix("report_files/test-") }.count == 48)
        for link in linked {
            #expect(!link.contains("://") && !link.hasPrefix("/"), "\(link)")
            #expect(FileManager.default.fileExists(atPath: folder + "/" + link), "\(link)")
        }
        #expect(html.components(separatedBy: "<svg").count - 1 >= 2 + 1 + 2)  // curves, confusion, histograms

        // The per-class rows are the confusion matrix of the saved model's predictions.
        let model = try Classifier.load(path: folder + "/model.safetensors")
        let outcome = score(model, on: data.test, tta: .flip)
        #expect(outcome.accuracy == result.testAccuracy)
        let matrix = Reports.confusionMatrix(labels: data.test.labels.map(Int.init), predictions: outcome.predictions)
        let rows = captures(#"<tr class="class-row"><td class="left">([^<]*)</td><td>(\d+)</td><td>(\d+)</td><td>([0-9.]+)%</td>"#, in: html)
        #expect(rows.count == 10)
        for (i, row) in rows.enumerated() {
            #expect(row[0] == HTMLPage.escape(Self.classNames[i]))
            #expect(Int(row[1]) == matrix[i].reduce(0, +) && Int(row[2]) == matrix[i][i])
            #expect(row[3] == String(format: "%.1f", 100 * Double(matrix[i][i]) / Double(max(matrix[i].reduce(0, +), 1))))
        }

        // Mistakes first; each image's caption is its prediction and probability.
        let figures = captures(#"<figure class="example (mistake|correct)">.*?<figcaption>#(\d+) .*?<br><b>([^<]*)</b> ([0-9.]+)%"#, in: html)
        #expect(figures.count == 48)
        let verdicts = figures.map { $0[0] }
        #expect(verdicts == verdicts.sorted { $0 == "mistake" && $1 == "correct" })
        let mistakes = outcome.predictions.indices.filter { outcome.predictions[$0] != Int(data.test.labels[$0]) }.count
        #expect(verdicts.filter { $0 == "mistake" }.count == min(mistakes, 32))
        for figure in figures {
            let index = Int(figure[1])!
            #expect((figure[0] == "mistake") == (outcome.predictions[index] != Int(data.test.labels[index])))
            #expect(figure[2] == HTMLPage.escape(Self.classNames[outcome.predictions[index]]))
            #expect(figure[3] == String(format: "%.1f", 100 * outcome.probability(of: outcome.predictions[index], image: index)))
        }

        // Text from the options, the data and the command is escaped.
        #expect(!html.contains("<script>") && html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
        #expect(html.contains("featuremaps train-cifar -o &#39;&lt;out &amp; more&gt;&#39;"))
        #expect(!html.contains("auto<mobile>") && html.contains("auto&lt;mobile&gt;"))
        #expect(html.contains("Test CPU") && html.contains("kernel extensions used"))
        // Every setting is listed, a missing one as "none".
        #expect(html.contains("<th class=\"left\">validationEvery</th>") && html.contains("<th class=\"left\">limit</th><td class=\"left\">none</td>"))
    }

    @Test func theFinishedPageShowsTheWholeWallTimeFromReadingTheDataAndItsParts() throws {
        // As if reading the data had taken 7.3 s: the whole run counts it, beside this process's clock.
        let before = ContinuousClock.now
        let (folder, _, result, _) = try tinyRun(epochs: 1, loadingSeconds: 7.3)
        let elapsed = (ContinuousClock.now - before).components
        let outside = Double(elapsed.seconds) + Double(elapsed.attoseconds) * 1e-18
        let r = try #require(result.report)
        #expect(r.dataLoadingSeconds == 7.3 && !r.resumed)
        let parts = r.dataLoadingSeconds + r.whiteningSeconds + r.trainingSeconds + r.validationSeconds + r.testSeconds
        #expect(r.wallSeconds >= parts && r.wallSeconds <= 7.3 + outside)
        #expect(abs(parts + (r.otherSeconds ?? -1) - r.wallSeconds) < 1e-9)
        let html = try String(contentsOfFile: folder + "/report.html", encoding: .utf8)
        let row = #"<tr><th class="left">whole run</th><td class="left">"# + String(format: "%.1f s from reading the data to the test accuracy", r.wallSeconds)
        #expect(html.contains(row))
        #expect(html.contains(#"<th class="left">data loading</th><td class="left">7.3 s</td>"#))
        for part in ["training time", "test evaluation", "validation during training", "other (building the network, checkpoints, report pages)"] {
            #expect(html.contains("<th class=\"left\">\(part)</th>"), "\(part)")
        }
        let json = try String(contentsOfFile: folder + "/run.json", encoding: .utf8)
        #expect(json.contains("\"data_loading_seconds\": 7.3,") && json.contains("\"wall_seconds\": ") && json.contains("\"resumed\": false"))
    }

    @Test func theEvaluationPageHasCurvesOnlyBesideTheRunsMetrics() throws {
        let (folder, data, _, _) = try tinyRun(epochs: 1)
        let model = try Classifier.load(path: folder + "/model.safetensors")
        let outcome = score(model, on: data.test)
        func page(_ path: String) -> TrainingReportPage {
            TrainingReportPage.evaluation(of: model, modelPath: path, split: data.test, splitName: "test", outcome: outcome, tta: .none,
                                          seconds: 0.5, machine: nil, evaluationPrecision: .fp32, command: "featuremaps evaluate")
        }
        let beside = page(folder + "/model.safetensors")
        #expect(beside.curves?.records.count == 1 && beside.render().contains("From \(folder)/metrics.csv"))
        let lonely = try Fixture.temporaryFolder().path + "/model.safetensors"
        let alone = page(lonely)
        #expect(alone.curves == nil && alone.render().contains("No curves:"))
        let out = try Fixture.temporaryFolder().path
        try alone.write(toFolder: out)
        let html = try String(contentsOfFile: out + "/report.html", encoding: .utf8)
        for link in links(in: html) { #expect(FileManager.default.fileExists(atPath: out + "/" + link), "\(link)") }
        #expect(!html.contains("refresh") && html.contains("softmax of the plain forward pass"))
    }

    @Test func aStoppedRunLeavesAPageThatSaysSoAndDoesNotReload() throws {
        let folder = try stoppedTinyRun("seed").folder
        let html = try String(contentsOfFile: folder + "/report.html", encoding: .utf8)
        #expect(html.contains("stopped after epoch 0 of 2") && !html.contains("http-equiv=\"refresh\"") && !html.contains("running:"))
    }

    @Test func metricsCSVReadsBackAndRejectsOtherFiles() {
        let records = [EpochRecord(epoch: 1, loss: 2.25, trainAccuracy: 0.25, validationAccuracy: nil, learningRate: 0.01, imagesPerSecond: 100, wallSeconds: 1.5),
                       EpochRecord(epoch: 2, loss: 1.5, trainAccuracy: 0.5, validationAccuracy: 0.375, learningRate: 0.001, imagesPerSecond: 120, wallSeconds: 3)]
        #expect(Reports.records(fromMetricsCSV: Reports.metricsCSV(records)) == records)
        #expect(Reports.records(fromMetricsCSV: "a,b\n1,2\n") == nil)
        #expect(Reports.records(fromMetricsCSV: Reports.metricsCSV([]) + "1,x,0,,0,0,0\n") == nil)
    }

    @Test func layerOutputsEndInTheLogitsAndSummariesCountEveryValue() throws {
        let classifier = try Classifier(architecture: "c8k3p1,bn,relu,mp4,fc10", seed: 1)
        let data = syntheticData(train: 10, test: 10)
        var batch = Tensor(shape: [0])
        var labels = [Int]()
        BatchAssembler(normalization: classifier.normalization).fill(&batch, labels: &labels, from: data.test, indices: Array(0 ..< 10)[...])
        let outputs = classifier.layerOutputs(batch)
        #expect(outputs.map(\.name) == ["0: Conv2d", "1: BatchNorm2d", "2: ReLU", "3: MaxPool2d", "4: Flatten", "5: Linear"])
        classifier.network.training = false
        #expect(outputs.last?.output == classifier.network(batch))

        let summary = ValueSummary([0, 0, 0, 1, 2, 3, 4, 5], bins: 5)
        #expect(summary.count == 8 && summary.mean == 15.0 / 8 && summary.zeroFraction == 3.0 / 8)
        #expect(summary.excludesZeros && summary.histogramTotal == 5 && summary.histogram == [1, 1, 1, 1, 1] && summary.lo == 1 && summary.hi == 5)
        #expect(abs(summary.std - (55.0 / 8 - (15.0 / 8) * (15.0 / 8)).squareRoot()) < 1e-12)
        // A few far values do not squeeze the rest into one bin: they are counted in the end bin.
        let spiky = ValueSummary((0 ..< 1000).map { Float($0 % 10 + 1) / 100 } + [1, 1], bins: 10)
        #expect(spiky.hi < 0.2 && spiky.outside == 2 && spiky.histogram.last == 100 + 2 && spiky.histogramTotal == 1002)
        // A diverged model's NaNs and infinities are left out of the histogram, not a crash.
        let diverged = ValueSummary([.nan, 1, 2, .infinity, -.infinity])
        #expect(diverged.histogramTotal == 2 && diverged.lo.isFinite && diverged.hi.isFinite && diverged.mean.isNaN)
        #expect(ValueSummary([.nan, .nan]).histogramTotal == 0)
        let flat = ValueSummary([1, 1, 1])
        #expect(flat.std == 0 && flat.lo < 1 && flat.hi > 1 && flat.histogramTotal == 3)
    }

    @Test func firstLayerFiltersAreColourTilesEachScaledOnItsOwn() throws {
        let classifier = try Classifier(architecture: "seed", seed: 2)
        let inspection = ModelInspection.inspect(classifier, images: CIFARSplit())
        let (tiles, note) = (try #require(inspection.filters), inspection.filterNote)
        #expect(inspection.weights.map(\.name) == ["conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "fc.weight", "fc.bias"])
        #expect(inspection.activations.isEmpty)
        // 16 filters of 5x5 at 10x: 8 to a row with 4-pixel gaps.
        #expect(tiles.width == 4 + 8 * 54 && tiles.height == 4 + 2 * 54 && tiles.channels == 3)
        #expect(note.hasPrefix("conv1.weight: 16 filters of 5x5"))
        // Filter 0's largest weight is full brightness in its channel, its smallest black.
        let w = classifier.firstConvolution!.weight.value.storage[0 ..< 75]
        let top = w.firstIndex(of: w.max()!)! , bottom = w.firstIndex(of: w.min()!)!
        func pixel(_ flat: Int) -> UInt8 {
            let (c, ky, kx) = (flat / 25, flat % 25 / 5, flat % 5)
            return tiles.pixels[((4 + ky * 10) * tiles.width + 4 + kx * 10) * 3 + c]
        }
        #expect(pixel(top) == 255 && pixel(bottom) == 0)
    }

    @Test func chartsHaveRoundTicksAxisTitlesAndLegendsForAnyRunLength() throws {
        let unit = SVGChart.ticks(0, 1)
        #expect(unit.values.count == 6 && abs(unit.values[3] - 0.6) < 1e-12 && unit.decimals == 1)
        #expect(SVGChart.ticks(0, 9.9).values == [0, 2, 4, 6, 8] && SVGChart.ticks(0, 9.9).decimals == 0)
        #expect(SVGChart.ticks(0, 0.05, count: 5).decimals == 2)
        let one = [EpochRecord(epoch: 1, loss: 2, trainAccuracy: 0.3, validationAccuracy: 0.25, learningRate: 0.1, imagesPerSecond: 1, wallSeconds: 1)]
        let single = Reports.curvesSVG(one)
        for text in [">epoch<", ">loss (mean per image)<", ">accuracy<", ">training loss<", ">validation<", ">train (during the epoch)<", ">100%<"] {
            #expect(single.contains(text), "\(text)")
        }
        // A fractional run: the last epoch ends at 9.9, the trace sits at its steps.
        let records = (1 ... 10).map { EpochRecord(epoch: $0, loss: 1 / Double($0), trainAccuracy: 0.09 * Double($0), validationAccuracy: nil, learningRate: 1, imagesPerSecond: 1, wallSeconds: 1) }
        let trace = (1 ... 99).map { ValidationPoint(step: $0, trainingSeconds: 0, accuracy: Double($0) / 100) }
        let fractional = Reports.curvesSVG(records, trace: trace, axis: EpochAxis(stepsPerEpoch: 10, totalSteps: 99))
        #expect(fractional.contains(">validation<") && fractional.contains(">8<"))
        // Long class names are cut, and the margins grow with the names.
        let names = (0 ..< 10).map { "class number \($0) with a very long name" }
        let matrix = (0 ..< 10).map { i in (0 ..< 10).map { $0 == i ? 90 : 1 } }
        let confusion = Reports.confusionSVG(matrix, classNames: names, title: "t & <u>")
        #expect(confusion.contains("class number 0 with a…") && confusion.contains("t &amp; &lt;u&gt;"))
        #expect(!confusion.contains("very long name<"))
        // Text widths err wide against DejaVu Sans's advances (em per character: digits 0.636,
        // M 0.863, W 0.989, m 0.974, lower-case up to 0.635, space 0.318), so an evaluate title of
        // digits and capitals fits its chart.
        for (text, dejaVu) in [("0123456789", 6.36), ("MODEL", 3.89), ("WWW mmm", 5.86), ("abcdeghknopqsuvxyz", 10.9), ("/work/runs/x: (1, 2)", 9.6)] {
            #expect(SVGChart.textWidth(text, size: 10) >= dejaVu * 10, "\(text)")
        }
        let title = "/WORK/RUNS/VGG-2026-11-30/MODEL.safetensors: test set confusion matrix (10000 images, accuracy 0.9046)"
        let wide = Reports.confusionSVG(matrix, classNames: names, title: title)
        let width = try #require(captures(#"<svg [^>]*width="(\d+)""#, in: wide).first.flatMap { Double($0[0]) })
        #expect(width >= 10 + SVGChart.textWidth(title, size: 14))
    }
}
