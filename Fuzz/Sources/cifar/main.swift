import FuzzSupport
@testable import Training

/// One input: bytes read as the CIFAR-10 archive (.tar.gz with one-record batch files, so small
/// inputs can be valid), or else as one batch file of however many whole records it holds, and
/// as batches.meta.txt. Every outcome but a crash is fine.
fuzzMain { data, size in
    let bytes = fuzzBytes(data, size)
    if bytes.starts(with: [0x1F, 0x8B]) {
        if let data = try? CIFAR10.decodeArchive(bytes, named: "fuzz", recordsPerFile: 1) {
            precondition(data.train.count == 5 && data.test.count == 1 && data.classNames.count == 10)
        }
        return 0
    }
    var split = CIFARSplit()
    let records = max(1, bytes.count / CIFAR10.recordSize)
    if (try? CIFAR10.appendRecords(of: bytes[...], named: "fuzz", to: &split, recordsPerFile: records)) != nil {
        precondition(split.count == records && split.labels.allSatisfy { $0 <= 9 })
    }
    _ = try? CIFAR10.parseClassNames(bytes, named: "fuzz")
    return 0
}
