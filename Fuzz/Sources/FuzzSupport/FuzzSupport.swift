import CFuzzDriver
import Foundation

/// One fuzz input: libFuzzer's callback signature.
public typealias FuzzInput = @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt

/// The bytes of one input as an array (nil with size 0 is the empty input).
public func fuzzBytes(_ data: UnsafePointer<UInt8>?, _ size: Int) -> [UInt8] {
    data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
}

/// The harness's main: with FEATUREMAPS_FUZZ_SEEDS=FOLDER, `writeSeeds` writes valid seed inputs
/// made by the library itself (so seeds always match the reader) and the program exits; otherwise
/// libFuzzer runs `test` with the command line's options.
public func fuzzMain(writeSeeds: ((String) throws -> Void)? = nil, _ test: FuzzInput) -> Never {
    if let folder = ProcessInfo.processInfo.environment["FEATUREMAPS_FUZZ_SEEDS"], let writeSeeds {
        do {
            try writeSeeds(folder)
            exit(0)
        } catch {
            FileHandle.standardError.write(Data("cannot write seeds to \(folder): \(error)\n".utf8))
            exit(1)
        }
    }
    var argc = CommandLine.argc
    var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
    exit(LLVMFuzzerRunDriver(&argc, &argv, test))
}
