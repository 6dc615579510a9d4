import Foundation
import Testing
import Training
import Kernels

@Suite struct CIFARReaderTests {
    @Test func readsAFolderOfBatchFiles() throws {
        let folder = try Fixture.cifarFolder(records: 20)
        let before = ContinuousClock.now
        let data = try CIFAR10.load(from: folder.path, recordsPerFile: 20)
        let elapsed = (ContinuousClock.now - before).components
        // The reading is timed for the run's report: positive, and within the call's own time.
        #expect(data.loadingSeconds > 0 && data.loadingSeconds <= Double(elapsed.seconds) + Double(elapsed.attoseconds) * 1e-18)
        #expect(data.train.count == 100)
        #expect(data.test.count == 20)
        #expect(data.classNames == CIFAR10.classNames)
        #expect(data.train.shape == [100, 3, 32, 32])
        // Training image 23 is record 3 of data_batch_2 (f = 1): label (3+3)%10, pixel i = (31+21+i)%256.
        #expect(data.train.labels[23] == 6)
        let image = Array(data.train.image(23))
        #expect(image[0] == 52)
        #expect(image[1024] == UInt8((52 + 1024) % 256))   // first green byte
        #expect(image[3071] == UInt8((52 + 3071) % 256))
        #expect(data.test.labels[0] == 5)                 // f = 5, r = 0
    }

    @Test func readsTheTarGzWithoutUnpacking() throws {
        let data = try CIFAR10.load(from: Fixture.path("cifar-tiny.tar.gz"), recordsPerFile: 2)
        #expect(data.train.count == 10)
        #expect(data.test.count == 2)
        #expect(data.train.labels == [0, 1, 3, 4, 6, 7, 9, 0, 2, 3])
        #expect(data.test.labels == [5, 6])
        #expect(Array(data.train.image(3))[10] == UInt8((31 + 7 + 10) % 256))
        #expect(data.classNames[9] == "truck")
    }

    @Test func folderAndArchiveAgree() throws {
        let folder = try Fixture.cifarFolder(records: 2)
        let a = try CIFAR10.load(from: folder.path, recordsPerFile: 2)
        let b = try CIFAR10.load(from: Fixture.path("cifar-tiny.tar.gz"), recordsPerFile: 2)
        #expect(a.train.pixels == b.train.pixels)
        #expect(a.test.labels == b.test.labels)
    }

    @Test func truncatedBatchFileIsNamed() throws {
        let folder = try Fixture.cifarFolder(records: 3)
        let file = folder.appendingPathComponent("data_batch_3.bin")
        try Data(Fixture.batchBytes(file: 2, records: 3).dropLast(100)).write(to: file)
        let message = Fixture.message { _ = try CIFAR10.load(from: folder.path, recordsPerFile: 3) }
        #expect(message.contains("data_batch_3.bin"))
        #expect(message.contains("truncated"))
        #expect(message.contains("\(3 * 3073)"))
    }

    @Test func wrongSizeOfficialFileIsAnError() throws {
        // With the default record count a 20-record file is the wrong size.
        let folder = try Fixture.cifarFolder(records: 20)
        let message = Fixture.message { _ = try CIFAR10.load(from: folder.path) }
        #expect(message.contains("data_batch_1.bin"))
        #expect(message.contains("30730000"))
    }

    @Test func labelOutsideZeroToNineIsNamed() throws {
        let folder = try Fixture.cifarFolder(records: 4)
        try Data(Fixture.batchBytes(file: 5, records: 4, label: { $0 == 2 ? 10 : 1 })).write(to: folder.appendingPathComponent("test_batch.bin"))
        let message = Fixture.message { _ = try CIFAR10.load(from: folder.path, recordsPerFile: 4) }
        #expect(message.contains("test_batch.bin"))
        #expect(message.contains("record 2"))
        #expect(message.contains("label 10"))
    }

    @Test func missingFileIsNamed() throws {
        let folder = try Fixture.cifarFolder(records: 2)
        try FileManager.default.removeItem(at: folder.appendingPathComponent("data_batch_5.bin"))
        let message = Fixture.message { _ = try CIFAR10.load(from: folder.path, recordsPerFile: 2) }
        #expect(message.contains("data_batch_5.bin"))
        #expect(message.contains("missing"))
    }

    @Test func badClassNameFileIsNamed() throws {
        let folder = try Fixture.cifarFolder(records: 2)
        try Data("cat\ndog\n".utf8).write(to: folder.appendingPathComponent(CIFAR10.metaFile))
        let message = Fixture.message { _ = try CIFAR10.load(from: folder.path, recordsPerFile: 2) }
        #expect(message.contains("batches.meta.txt"))
        #expect(message.contains("expected 10"))
    }

    @Test func archiveWithoutTestBatchIsNamed() {
        let message = Fixture.message { _ = try CIFAR10.load(from: Fixture.path("cifar-missing.tar.gz"), recordsPerFile: 2) }
        #expect(message.contains("cifar-missing.tar.gz"))
        #expect(message.contains("test_batch.bin"))
    }

    @Test func truncatedArchiveIsAnError() throws {
        let bytes = try Data(contentsOf: URL(fileURLWithPath: Fixture.path("cifar-tiny.tar.gz")))
        let path = try Fixture.temporaryFolder().appendingPathComponent("cut.tar.gz")
        try bytes.prefix(bytes.count / 2).write(to: path)
        let message = Fixture.message { _ = try CIFAR10.load(from: path.path, recordsPerFile: 2) }
        #expect(message.contains("cut.tar.gz"))
        #expect(message.contains("truncated") || message.contains("corrupt"))
    }

    /// A small archive that inflates far past what the batch files can hold is refused while
    /// inflating, not read into memory whole (a 1 MB bomb could otherwise ask for 1 GB).
    @Test func anArchiveInflatingPastItsDataIsRefused() {
        let message = Fixture.message { _ = try CIFAR10.load(from: Fixture.path("cifar-bomb.tar.gz"), recordsPerFile: 2) }
        #expect(message.hasPrefix(Fixture.path("cifar-bomb.tar.gz") + ": ") && message.contains("inflates to more than"), "\(message)")
    }

    @Test func notGzipIsAnError() throws {
        let path = try Fixture.temporaryFolder().appendingPathComponent("data.tar.gz")
        try Data("hello".utf8).write(to: path)
        let message = Fixture.message { _ = try CIFAR10.load(from: path.path) }
        #expect(message.contains("not a gzip file"))
    }

    @Test func aMissingPathIsAFileError() {
        #expect(throws: TrainingError.file(path: "/nonexistent/cifar", reason: "does not exist")) {
            _ = try CIFAR10.load(from: "/nonexistent/cifar")
        }
    }

    @Test func validationSplitIsDisjointAndStable() throws {
        let folder = try Fixture.cifarFolder(records: 20)
        let data = try CIFAR10.load(from: folder.path, recordsPerFile: 20)
        let (train, validation) = try data.train.splittingValidation(30)
        #expect(train.count == 70 && validation.count == 30)
        // Every image lands in exactly one part (images here are distinct by their first byte and label).
        let key = { (s: CIFARSplit, i: Int) in "\(s.labels[i])-\(s.image(i).first!)-\(s.image(i).dropFirst().first!)" }
        let all = Set((0 ..< data.train.count).map { key(data.train, $0) })
        let parts = (0 ..< train.count).map { key(train, $0) } + (0 ..< validation.count).map { key(validation, $0) }
        #expect(Set(parts) == all && parts.count == all.count)
        let again = try data.train.splittingValidation(30)
        #expect(again.validation.pixels == validation.pixels)
        #expect(data.train.prefix(7).count == 7)
        #expect(data.train.classCounts().reduce(0, +) == 100)
    }
}

@Suite struct BatchTests {
    /// Naive reference: pad the byte image with zeros, crop, mirror, then normalise.
    func reference(_ image: [UInt8], crop: CropFlip, norm: Normalization) -> [Float] {
        var out = [Float]()
        for c in 0 ..< 3 {
            var padded = [[Int]](repeating: [Int](repeating: 0, count: 40), count: 40)
            for y in 0 ..< 32 { for x in 0 ..< 32 { padded[y + 4][x + 4] = Int(image[c * 1024 + y * 32 + x]) } }
            for y in 0 ..< 32 {
                let row = Array(padded[crop.dy + y][crop.dx ..< crop.dx + 32])
                let pixels = crop.flip ? Array(row.reversed()) : row
                for v in pixels { out.append((Float(v) / 255 - norm.mean[c]) / norm.std[c]) }
            }
        }
        return out
    }

    @Test func cropFlipAndNormalisationMatchANaiveReference() throws {
        let folder = try Fixture.cifarFolder(records: 3)
        let split = try CIFAR10.load(from: folder.path, recordsPerFile: 3).train
        let norm = Normalization(mean: [0.5, 0.4, 0.3], std: [0.25, 0.2, 0.1])
        let assembler = BatchAssembler(normalization: norm)
        let crops = [CropFlip(dy: 0, dx: 8, flip: true), CropFlip(dy: 8, dx: 0, flip: false), CropFlip.none, CropFlip(dy: 3, dx: 5, flip: true)]
        var batch = Tensor(shape: [0])
        var labels = [Int]()
        let indices = [4, 0, 14, 7]
        assembler.fill(&batch, labels: &labels, from: split, indices: indices[...], crops: crops[...])
        #expect(batch.shape == [4, 3, 32, 32])
        #expect(labels == indices.map { Int(split.labels[$0]) })
        for (b, i) in indices.enumerated() {
            let expected = reference(Array(split.image(i)), crop: crops[b], norm: norm)
            let got = Array(batch.storage[b * 3072 ..< (b + 1) * 3072])
            #expect(zip(expected, got).allSatisfy { abs($0 - $1) <= 1e-5 * max(1, abs($0)) })
        }
    }

    @Test func statisticsMatchDirectComputation() throws {
        let folder = try Fixture.cifarFolder(records: 5)
        let split = try CIFAR10.load(from: folder.path, recordsPerFile: 5).train
        let norm = Normalization.statistics(of: split)
        for c in 0 ..< 3 {
            var values = [Double]()
            for i in 0 ..< split.count { values += split.image(i)[(split.image(i).startIndex + c * 1024)...].prefix(1024).map { Double($0) / 255 } }
            let mean = values.reduce(0, +) / Double(values.count)
            let variance = values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count - 1)
            #expect(abs(Double(norm.mean[c]) - mean) < 1e-6)
            #expect(abs(Double(norm.std[c]) - variance.squareRoot()) < 1e-6)
        }
    }

    @Test func randomCropsCoverTheRangeAndRepeatFromTheSeed() {
        var a = TrainingRandom(seed: 7), b = TrainingRandom(seed: 7)
        let crops = (0 ..< 2000).map { _ in CropFlip.random(using: &a) }
        #expect(crops == (0 ..< 2000).map { _ in CropFlip.random(using: &b) })
        #expect(Set(crops.map(\.dy)) == Set(0 ... 8))
        #expect(Set(crops.map(\.dx)) == Set(0 ... 8))
        let flips = crops.filter(\.flip).count
        #expect(flips > 900 && flips < 1100)
    }

    @Test func generatorStateRestoresTheStream() {
        var g = TrainingRandom(seed: 42)
        _ = g.permutation(100)
        let saved = g.state
        let next = (0 ..< 10).map { _ in g.next() }
        var restored = TrainingRandom(state: saved)!
        #expect((0 ..< 10).map { _ in restored.next() } == next)
        var first = TrainingRandom(seed: 1)
        let p = first.permutation(1000)
        var copy = TrainingRandom(seed: 1)
        #expect(p.sorted() == Array(0 ..< 1000))
        #expect(copy.permutation(1000) == p)
        #expect(TrainingRandom(state: [0, 0, 0, 0]) == nil)
    }
}

@Suite struct PreviewTests {
    @Test func gridPlacesUpscaledImagesAndLabels() throws {
        let folder = try Fixture.cifarFolder(records: 2)
        let split = try CIFAR10.load(from: folder.path, recordsPerFile: 2).train
        let canvas = CIFARPreview.grid(split, classNames: CIFAR10.classNames, columns: 3, rows: 2, scale: 2)
        // 8 px gaps, 64 px cells, label rows of 7*1+8 px.
        #expect(canvas.width == 8 + 3 * (64 + 8))
        #expect(canvas.height == 8 + 2 * (64 + 15 + 8))
        // Image 4 (row 1, column 1): its pixel (x 5, y 3) covers canvas (8+72+10.., 8+87+6..); channel G.
        func canvasPixel(_ x: Int, _ y: Int, _ c: Int) -> UInt8 { canvas.pixels[(y * canvas.width + x) * 3 + c] }
        let image = Array(split.image(4))
        #expect(canvasPixel(8 + 72 + 11, 8 + 87 + 7, 1) == image[1024 + 3 * 32 + 5])
        // Some dark text pixels under the first image, none in the gap column.
        let labelRow = (8 + 64 + 5) ..< (8 + 64 + 12)
        #expect(labelRow.contains { y in (8 ..< 72).contains { x in canvasPixel(x, y, 0) == 0 } })
        #expect(!labelRow.contains { y in canvasPixel(74, y, 0) != 255 })
    }
}
