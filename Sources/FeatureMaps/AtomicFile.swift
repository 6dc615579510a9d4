#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A file or folder that could not be written: `<path>: <reason>`.
public typealias FileWriteError = PathError

extension PathError {
    static func fromErrno(_ path: String, _ code: Int32 = errno) -> PathError {
        PathError(path: path, reason: String(cString: strerror(code)))
    }
}

/// Writing files so that a reader never sees half of one.
public enum AtomicFile {
    /// Writes `bytes` to a temporary file beside `path`, then renames it onto `path`, so `path`
    /// holds either its old content or all of the new one, even if the process dies mid-write.
    public static func write(_ bytes: UnsafeRawBufferPointer, toPath path: String) throws(FileWriteError) {
        let temporary = temporaryPath(for: path)
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw .fromErrno(path) }
        var offset = 0
        while offset < bytes.count {
            let written = systemWrite(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                let code = errno
                close(descriptor)
                unlink(temporary)
                throw .fromErrno(path, code)
            }
            offset += written
        }
        if close(descriptor) != 0 {
            let code = errno
            unlink(temporary)
            throw .fromErrno(path, code)
        }
        if rename(temporary, path) != 0 {
            let code = errno
            unlink(temporary)
            throw .fromErrno(path, code)
        }
    }

    /// Writes `bytes` atomically (see `write(_:toPath:)` for raw bytes).
    public static func write(_ bytes: [UInt8], toPath path: String) throws(FileWriteError) {
        let outcome = bytes.withUnsafeBytes { raw in
            Result { () throws(FileWriteError) in try write(raw, toPath: path) }
        }
        try outcome.get()
    }

    /// Creates `path` and any missing parents, like `mkdir -p`.
    public static func createDirectories(_ path: String) throws(FileWriteError) {
        var status = stat()
        if stat(path, &status) == 0 {
            guard status.st_mode & S_IFMT == S_IFDIR else {
                throw FileWriteError(path: path, reason: "exists and is not a folder")
            }
            return
        }
        let parent = parentPath(of: path)
        if !parent.isEmpty && parent != path { try createDirectories(parent) }
        if mkdir(path, 0o755) != 0 && errno != EEXIST { throw .fromErrno(path) }
    }

    /// The folder part of `path` ("" for a bare name).
    static func parentPath(of path: String) -> String {
        var trimmed = Substring(path)
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed.removeLast() }
        guard let slash = trimmed.lastIndex(of: "/") else { return "" }
        return slash == trimmed.startIndex ? "/" : String(trimmed[..<slash])
    }

    private static let counter = TemporaryNameCounter()

    /// `.<name>.tmp-<pid>-<n>` in the same folder, so the rename never crosses file systems and a
    /// leftover from a crash is hidden and easy to recognise.
    private static func temporaryPath(for path: String) -> String {
        let parent = parentPath(of: path)
        let name = parent.isEmpty ? path : String(path.dropFirst(parent == "/" ? 1 : parent.count + 1))
        let unique = ".\(name).tmp-\(getpid())-\(counter.next())"
        return parent.isEmpty ? unique : (parent == "/" ? "/" + unique : parent + "/" + unique)
    }
}

/// POSIX write(2), named apart from `AtomicFile.write`.
private func systemWrite(_ descriptor: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int {
    write(descriptor, buffer, count)
}

/// A process-wide counter for temporary names, safe to use from several threads.
private final class TemporaryNameCounter: @unchecked Sendable {
    private let lock = Lock()
    private var value = 0

    func next() -> Int {
        lock.withLock {
            value += 1
            return value
        }
    }
}
