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

/// Writes `bytes` to `path` atomically: into a new temporary file in the same folder, then renamed over
/// `path` (rename(2) is atomic within a file system), so readers and a crash of this process never see
/// a half-written file. On any failure the temporary file is removed and `path` is left as it was.
/// There is deliberately no fsync: batches write thousands of small PNGs, and surviving power loss
/// is not worth a disk flush per file.
func writeFileAtomically(_ bytes: [UInt8], toPath path: String) throws(ImageIOError) {
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
    func fail(_ reason: String) -> ImageIOError {
        close(fd)
        unlink(tempPath)
        return ImageIOError(path: path, reason: reason)
    }
    var done = 0
    while done < bytes.count {
        let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + done, bytes.count - done) }
        if n < 0 {
            if errno == EINTR { continue }
            throw fail("cannot write: \(errnoText())")
        }
        done += n
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
}
