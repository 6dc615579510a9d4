import Foundation

/// Images and labels of one CIFAR-10 split, kept as the raw bytes of the binary files:
/// each image is 3,072 bytes, the R plane, then G, then B, each 32x32 row-major (CHW order).
public struct CIFARSplit: Sendable {
    /// `count * 3072` pixel bytes, image after image.
    public var pixels: [UInt8]
    /// One label (0-9) per image.
    public var labels: [UInt8]

    /// An empty split.
    public init() { pixels = []; labels = [] }

    /// A split holding `pixels` (`labels.count * 3072` bytes) and `labels`.
    public init(pixels: [UInt8], labels: [UInt8]) {
        precondition(pixels.count == labels.count * CIFAR10.pixelsPerImage, "pixel count does not match labels")
        self.pixels = pixels
        self.labels = labels
    }

    /// The number of images.
    public var count: Int { labels.count }

    /// The shape of the images as a tensor would hold them, [N, 3, 32, 32].
    public var shape: [Int] { [count, CIFAR10.channels, CIFAR10.side, CIFAR10.side] }

    /// The 3,072 bytes of image `index` (CHW).
    public func image(_ index: Int) -> ArraySlice<UInt8> {
        pixels[index * CIFAR10.pixelsPerImage ..< (index + 1) * CIFAR10.pixelsPerImage]
    }

    /// The images at `indices`, in that order.
    public func selecting(_ indices: [Int]) -> CIFARSplit {
        var out = CIFARSplit()
        out.pixels.reserveCapacity(indices.count * CIFAR10.pixelsPerImage)
        out.labels.reserveCapacity(indices.count)
        for i in indices {
            out.pixels.append(contentsOf: image(i))
            out.labels.append(labels[i])
        }
        return out
    }

    /// The first `n` images (all of them, sharing this split's storage, when `n` is larger).
    public func prefix(_ n: Int) -> CIFARSplit {
        guard n < count else { return self }
        let k = max(n, 0)
        return CIFARSplit(pixels: Array(pixels[0 ..< k * CIFAR10.pixelsPerImage]), labels: Array(labels[0 ..< k]))
    }

    /// How many images of each class (index = label).
    public func classCounts(classes: Int = 10) -> [Int] {
        var counts = [Int](repeating: 0, count: classes)
        for l in labels where Int(l) < classes { counts[Int(l)] += 1 }
        return counts
    }

    /// Holds out `validation` images chosen by a permutation drawn from `seed` (by default
    /// `ValidationSplit.permutationSeed`) and returns (rest, held out), both in their original order.
    public func splittingValidation(_ validation: Int, seed: UInt64 = ValidationSplit.permutationSeed) throws -> (train: CIFARSplit, validation: CIFARSplit) {
        guard validation > 0 else { return (self, CIFARSplit()) }
        guard validation < count else {
            throw TrainingError.setting(.validation, reason: "holding out \(validation) images leaves no training images (there are \(count))")
        }
        var generator = TrainingRandom(seed: seed)
        let permutation = generator.permutation(count)
        let held = Array(permutation[0 ..< validation]).sorted()
        var isHeld = [Bool](repeating: false, count: count)
        for i in held { isHeld[i] = true }
        let kept = (0 ..< count).filter { !isHeld[$0] }
        return (selecting(kept), selecting(held))
    }
}

/// The CIFAR-10 training and test splits with their class names.
public struct CIFAR10Data: Sendable {
    /// The 50,000 official training images (or fewer in a small fixture).
    public var train: CIFARSplit
    /// The 10,000 official test images.
    public var test: CIFARSplit
    /// Class names by label, from batches.meta.txt.
    public var classNames: [String]
    /// Where the data was read from (a folder or a .tar.gz).
    public var source: String
    /// Wall seconds `CIFAR10.load` took to read and check the files (0 for data built in memory),
    /// so a run's report can count the reading in its whole wall time.
    public var loadingSeconds = 0.0

    /// Data made of the given splits (tests build small synthetic sets this way).
    public init(train: CIFARSplit, test: CIFARSplit, classNames: [String] = CIFAR10.classNames, source: String) {
        self.train = train
        self.test = test
        self.classNames = classNames
        self.source = source
    }
}

/// Reading the official CIFAR-10 binary version, from its folder or from the downloaded
/// cifar-10-binary.tar.gz (inflated in memory, never unpacked to disk).
public enum CIFAR10 {
    /// Image side in pixels.
    public static let side = 32
    /// Colour channels.
    public static let channels = 3
    /// Bytes of one image (3 planes of 32x32).
    public static let pixelsPerImage = 3 * 32 * 32
    /// Bytes of one record: the label byte, then the image.
    public static let recordSize = 1 + pixelsPerImage
    /// Records in each official batch file.
    public static let recordsPerFile = 10_000
    /// The five training batch files, in order.
    public static let trainFiles = (1...5).map { "data_batch_\($0).bin" }
    /// The test batch file.
    public static let testFile = "test_batch.bin"
    /// The class-name file.
    public static let metaFile = "batches.meta.txt"
    /// The folder name inside the official archive.
    public static let archiveFolder = "cifar-10-batches-bin"
    /// The official archive's name.
    public static let archiveName = "cifar-10-binary.tar.gz"
    /// Where to download the official binary version.
    public static let downloadURL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
    /// The official class names, used to check batches.meta.txt.
    public static let classNames = ["airplane", "automobile", "bird", "cat", "deer",
                                    "dog", "frog", "horse", "ship", "truck"]

    /// Reads both splits from `path`: a folder holding the .bin files (or holding the folder
    /// cifar-10-batches-bin, or the archive), or the .tar.gz itself.
    ///
    /// `recordsPerFile` is the exact record count each batch file must hold (10,000 for the
    /// official files; tests pass their fixture's size). Any other size is an error.
    public static func load(from path: String, recordsPerFile: Int = CIFAR10.recordsPerFile) throws -> CIFAR10Data {
        let started = ContinuousClock.now
        var data = try loadUntimed(from: path, recordsPerFile: recordsPerFile)
        let elapsed = (ContinuousClock.now - started).components
        data.loadingSeconds = Double(elapsed.seconds) + Double(elapsed.attoseconds) * 1e-18
        return data
    }

    private static func loadUntimed(from path: String, recordsPerFile: Int) throws -> CIFAR10Data {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw TrainingError.file(path: path, reason: "does not exist")
        }
        if isDirectory.boolValue {
            let folder = URL(fileURLWithPath: path)
            if !FileManager.default.fileExists(atPath: folder.appendingPathComponent(trainFiles[0]).path) {
                let nested = folder.appendingPathComponent(archiveFolder)
                if FileManager.default.fileExists(atPath: nested.appendingPathComponent(trainFiles[0]).path) {
                    return try loadUntimed(from: nested.path, recordsPerFile: recordsPerFile)
                }
                let archive = folder.appendingPathComponent(archiveName)
                if FileManager.default.fileExists(atPath: archive.path) {
                    return try loadUntimed(from: archive.path, recordsPerFile: recordsPerFile)
                }
            }
            return try loadFolder(folder, recordsPerFile: recordsPerFile)
        }
        return try loadArchive(path, recordsPerFile: recordsPerFile)
    }

    private static func loadFolder(_ folder: URL, recordsPerFile: Int) throws -> CIFAR10Data {
        func read(_ name: String) throws -> [UInt8] {
            let url = folder.appendingPathComponent(name)
            guard FileManager.default.fileExists(atPath: url.path) else {
                throw TrainingError.file(path: url.path, reason: "missing; a CIFAR-10 folder holds \((trainFiles + [testFile, metaFile]).joined(separator: ", "))")
            }
            do {
                return [UInt8](try Data(contentsOf: url))
            } catch {
                throw TrainingError.file(path: url.path, reason: "cannot be read (\(error.localizedDescription))")
            }
        }
        var train = CIFARSplit()
        for name in trainFiles {
            try appendRecords(of: read(name)[...], named: folder.appendingPathComponent(name).path, to: &train, recordsPerFile: recordsPerFile)
        }
        var test = CIFARSplit()
        try appendRecords(of: read(testFile)[...], named: folder.appendingPathComponent(testFile).path, to: &test, recordsPerFile: recordsPerFile)
        let names = try parseClassNames(read(metaFile), named: folder.appendingPathComponent(metaFile).path)
        return CIFAR10Data(train: train, test: test, classNames: names, source: folder.path)
    }

    private static func loadArchive(_ path: String, recordsPerFile: Int) throws -> CIFAR10Data {
        let compressed: [UInt8]
        do {
            compressed = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        } catch {
            throw TrainingError.file(path: path, reason: "cannot be read (\(error.localizedDescription))")
        }
        return try decodeArchive(compressed, named: path, recordsPerFile: recordsPerFile)
    }

    /// Both splits from the bytes of the official .tar.gz; `path` names it in errors. Separate from
    /// the file so the fuzz target (Fuzz/) can feed it bytes.
    static func decodeArchive(_ compressed: [UInt8], named path: String, recordsPerFile: Int) throws -> CIFAR10Data {
        // The six batch files and the names, plus room for tar headers and padding: about 185 MB
        // for the official archive.
        let limit = (trainFiles.count + 1) * recordsPerFile * recordSize + (1 << 20)
        let tarBytes = try Gzip.inflate(compressed, named: path, limit: limit)
        let members = try TarArchive.members(of: tarBytes, named: path)
        // Members are found by base name, so the archive's top folder name does not matter.
        var byName = [String: Range<Int>]()
        for member in members {
            let base = member.name.split(separator: "/").last.map(String.init) ?? member.name
            byName[base] = member.range
        }
        let wanted = trainFiles + [testFile, metaFile]
        let missing = wanted.filter { byName[$0] == nil }
        guard missing.isEmpty else {
            throw TrainingError.file(path: path, reason: "the archive lacks \(missing.joined(separator: ", ")); expected the official \(archiveName) holding \(archiveFolder)/{\(wanted.joined(separator: ","))}")
        }
        func member(_ name: String) -> ArraySlice<UInt8> { tarBytes[byName[name] ?? 0 ..< 0] }
        var train = CIFARSplit()
        for name in trainFiles {
            try appendRecords(of: member(name), named: "\(path):\(name)", to: &train, recordsPerFile: recordsPerFile)
        }
        var test = CIFARSplit()
        try appendRecords(of: member(testFile), named: "\(path):\(testFile)", to: &test, recordsPerFile: recordsPerFile)
        let names = try parseClassNames(member(metaFile), named: "\(path):\(metaFile)")
        return CIFAR10Data(train: train, test: test, classNames: names, source: path)
    }

    /// Checks one batch file's bytes and appends its records to `split`.
    static func appendRecords(of bytes: ArraySlice<UInt8>, named name: String, to split: inout CIFARSplit, recordsPerFile: Int) throws {
        let expected = recordsPerFile * recordSize
        guard bytes.count == expected else {
            let what = bytes.count < expected ? "truncated" : "too long"
            throw TrainingError.file(path: name, reason: "\(what), \(bytes.count) bytes; expected \(expected) (\(recordsPerFile) records of \(recordSize) bytes: 1 label byte + 3072 pixel bytes)")
        }
        try bytes.withUnsafeBufferPointer { raw in
            split.pixels.reserveCapacity(split.pixels.count + recordsPerFile * pixelsPerImage)
            split.labels.reserveCapacity(split.labels.count + recordsPerFile)
            for r in 0 ..< recordsPerFile {
                let base = r * recordSize
                let label = raw[base]
                guard label <= 9 else {
                    throw TrainingError.file(path: name, reason: "record \(r) (byte offset \(base)) has label \(label); expected a class 0-9")
                }
                split.labels.append(label)
                split.pixels.append(contentsOf: UnsafeBufferPointer(rebasing: raw[(base + 1) ..< (base + recordSize)]))
            }
        }
    }

    /// The ten class names of batches.meta.txt (one per line, blank lines ignored).
    static func parseClassNames<Bytes: Collection>(_ bytes: Bytes, named name: String) throws -> [String] where Bytes.Element == UInt8 {
        guard let text = String(bytes: Array(bytes), encoding: .utf8) else {
            throw TrainingError.file(path: name, reason: "not UTF-8 text; expected the ten class names, one per line")
        }
        let names = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard names.count == 10 else {
            throw TrainingError.file(path: name, reason: "\(names.count) class names; expected 10, one per line")
        }
        return names
    }
}
