#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The text of the current `errno`, e.g. "No such file or directory".
func errnoText(_ code: Int32 = errno) -> String {
    String(cString: strerror(code))
}

/// Reads a whole regular file into memory, refusing directories, devices and files above `maxBytes`.
/// `sniff` sees the first bytes before the rest is read, so a non-image is refused without reading it all.
func readFileBytes(atPath path: String, maxBytes: Int,
                   sniff: ([UInt8]) throws(ImageIOError) -> Void) throws(ImageIOError) -> [UInt8] {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    if fd < 0 { throw ImageIOError(path: path, reason: "cannot open: \(errnoText())") }
    defer { close(fd) }
    var info = stat()
    if fstat(fd, &info) != 0 { throw ImageIOError(path: path, reason: "cannot stat: \(errnoText())") }
    let kind = info.st_mode & S_IFMT
    if kind == S_IFDIR { throw ImageIOError(path: path, reason: "is a directory, not an image file") }
    if kind != S_IFREG { throw ImageIOError(path: path, reason: "not a regular file") }
    let size = Int(info.st_size)
    if size == 0 { throw ImageIOError(path: path, reason: "empty file (0 bytes)") }
    var bytes = [UInt8](repeating: 0, count: min(size, 16))
    try readFully(fd, into: &bytes, from: 0, path: path)
    try sniff(bytes)
    if size > maxBytes {
        throw ImageIOError(path: path, reason: "file is \(size) bytes, larger than any image within the pixel limit can be")
    }
    if size > bytes.count {
        let head = bytes.count
        bytes += [UInt8](repeating: 0, count: size - head)
        try readFully(fd, into: &bytes, from: head, path: path)
    }
    return bytes
}

/// Fills `bytes[start...]` from `fd`; a file that shrinks while being read is an error, not a short image.
private func readFully(_ fd: Int32, into bytes: inout [UInt8], from start: Int, path: String) throws(ImageIOError) {
    var done = start
    let total = bytes.count
    while done < total {
        let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + done, total - done) }
        if n < 0 {
            if errno == EINTR { continue }
            throw ImageIOError(path: path, reason: "cannot read: \(errnoText())")
        }
        if n == 0 { throw ImageIOError(path: path, reason: "file shrank while being read") }
        done += n
    }
}

/// Writing files so that a reader never sees half of one: the package's one atomic writer, used
/// for PNGs, the explorer's .npy maps, checkpoints, reports and metrics.
///
/// Failures are `ImageIOError`s naming the path and the reason, e.g.
/// `out/x.png: cannot create a file in folder out: Permission denied`.
package enum AtomicFile {
    /// Writes `bytes` to `path` atomically: into a new temporary file in the same folder (named
    /// `.<name>.<pid>.<random>.tmp`, so concurrent writers of one path never share it), then renamed
    /// over `path` (rename(2) is atomic within a file system), so readers, concurrent writers and a
    /// crash of this process never see a half-written file. On any failure (a full disk included) the
    /// temporary file is removed and `path` is left as it was.
    ///
    /// With `durable`, the data is flushed (fsync) before the rename and the folder after it, so a
    /// power loss leaves either the old file or the whole new one; file systems that allocate late
    /// report a full disk only then. Batches of small PNGs skip it (a disk flush per file is not worth
    /// it for pictures that can be redrawn); checkpoints and models use it. The folder must exist (see
    /// `createDirectories`).
    public static func write(_ bytes: UnsafeRawBufferPointer, toPath path: String, durable: Bool = false) throws(ImageIOError) {
        let slash = path.lastIndex(of: "/")
        let folder = slash.map { String(path[..<$0]) } ?? "."
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        if name.isEmpty { throw ImageIOError(path: path, reason: "output path names a folder, not a file") }
        let folderPrefix = slash == nil ? "" : (folder.isEmpty ? "/" : folder + "/")

        var fd: Int32 = -1
        var tempPath = ""
        for _ in 0..<16 {
            tempPath = folderPrefix + ".\(name).\(getpid()).\(UInt32.random(in: 0...UInt32.max)).tmp"
            fd = open(tempPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o666)
            if fd >= 0 || errno != EEXIST { break }
        }
        if fd < 0 {
            throw ImageIOError(path: path, reason: "cannot create a file in folder \(folder.isEmpty ? "/" : folder): \(errnoText())")
        }
        var done = 0
        while done < bytes.count {
            let n = systemWrite(fd, bytes.baseAddress! + done, bytes.count - done)
            if n < 0 {
                if errno == EINTR { continue }
                let reason = "cannot write: \(errnoText())"
                close(fd)
                unlink(tempPath)
                throw ImageIOError(path: path, reason: reason)
            }
            done += n
        }
        if durable && fsync(fd) != 0 {
            let reason = "cannot flush to disk: \(errnoText())"
            close(fd)
            unlink(tempPath)
            throw ImageIOError(path: path, reason: reason)
        }
        if close(fd) != 0 {
            let reason = "cannot close: \(errnoText())"
            unlink(tempPath)
            throw ImageIOError(path: path, reason: reason)
        }
        if rename(tempPath, path) != 0 {
            let reason = "cannot rename temporary file into place: \(errnoText())"
            unlink(tempPath)
            throw ImageIOError(path: path, reason: reason)
        }
        if durable {
            // The rename itself lives in the folder; without this a power loss may undo it.
            let folderFD = open(folder.isEmpty ? "/" : folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            if folderFD >= 0 {
                _ = fsync(folderFD)
                close(folderFD)
            }
        }
    }

    /// Writes `bytes` atomically (see `write(_:toPath:durable:)` for raw bytes).
    public static func write(_ bytes: [UInt8], toPath path: String, durable: Bool = false) throws(ImageIOError) {
        let outcome = bytes.withUnsafeBytes { raw in
            Result { () throws(ImageIOError) in try write(raw, toPath: path, durable: durable) }
        }
        try outcome.get()
    }

    /// Writes `text` as UTF-8 atomically.
    public static func write(_ text: String, toPath path: String) throws(ImageIOError) {
        try write(Array(text.utf8), toPath: path)
    }

    /// Creates `path` and any missing parents, like `mkdir -p`.
    public static func createDirectories(_ path: String) throws(ImageIOError) {
        var status = stat()
        if stat(path, &status) == 0 {
            guard status.st_mode & S_IFMT == S_IFDIR else {
                throw ImageIOError(path: path, reason: "exists and is not a folder")
            }
            return
        }
        let parent = parentPath(of: path)
        if !parent.isEmpty && parent != path { try createDirectories(parent) }
        if mkdir(path, 0o755) != 0 && errno != EEXIST {
            throw ImageIOError(path: path, reason: "cannot create folder: \(errnoText())")
        }
    }

    /// The folder part of `path` ("" for a bare name).
    static func parentPath(of path: String) -> String {
        var trimmed = Substring(path)
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed.removeLast() }
        guard let slash = trimmed.lastIndex(of: "/") else { return "" }
        return slash == trimmed.startIndex ? "/" : String(trimmed[..<slash])
    }
}

/// POSIX write(2), named apart from `AtomicFile.write`.
private func systemWrite(_ descriptor: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int {
    write(descriptor, buffer, count)
}
