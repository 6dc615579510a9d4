import Foundation

/// An exclusive claim on a training run's output folder: flock(2) on `<folder>/.lock`, which
/// holds the owner's pid as text. Two runs writing one folder would overwrite each other's
/// checkpoint and reports; the second is refused instead. The kernel drops a flock when its
/// descriptor closes, so a run that exits, crashes or is killed (SIGKILL too) frees the folder
/// without cleanup; a stale `.lock` file left behind is harmless and is reused.
final class OutputLock {
    /// The lock file's name inside the output folder.
    static let fileName = ".lock"

    private let descriptor: Int32

    /// Takes the lock on `folder` (which must exist), or throws `TrainingError.outputInUse`
    /// naming the holder's pid when another process has it.
    init(folder: String) throws(TrainingError) {
        let path = (folder.hasSuffix("/") ? folder : folder + "/") + Self.fileName
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        if fd < 0 { throw .file(path: path, reason: "cannot open the lock file: \(String(cString: strerror(errno)))") }
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            if code == EINTR { continue }
            close(fd)
            if code == EWOULDBLOCK { throw .outputInUse(folder: folder, pid: Self.holder(path)) }
            throw .file(path: path, reason: "cannot lock: \(String(cString: strerror(code)))")
        }
        // Ours now: record the pid for the message a second run prints.
        let text = Array("\(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = text.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        descriptor = fd
    }

    deinit { close(descriptor) }

    /// The pid written in the lock file at `path`, or nil when it cannot be read yet (the holder
    /// took the lock a moment ago and has not written it).
    private static func holder(_ path: String) -> Int32? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 32)
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard n > 0 else { return nil }
        return Int32(String(decoding: buffer[..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
    }
}
