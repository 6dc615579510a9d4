#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A mutual-exclusion lock (pthread mutex) for the few counters threads share.
final class Lock: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>

    init() {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    func withLock<T>(_ body: () throws -> T) rethrows -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }
}

/// Seconds on a clock that never jumps, for rates and durations.
func monotonicSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) * 1e-9
}

/// Removes a file; returns whether it was there.
@discardableResult
func unlinkFile(_ path: String) -> Bool { unlink(path) == 0 }

/// Removes the folder at `path` if it is empty (rmdir(2)); true when it was removed.
func removeEmptyFolder(_ path: String) -> Bool { rmdir(path) == 0 }

/// Whether standard error is a terminal (then progress is redrawn in place).
package func standardErrorIsTerminal() -> Bool { isatty(STDERR_FILENO) != 0 }

/// Writes `text` to standard error at once (unbuffered), for progress and error lines.
package func printToStandardError(_ text: String) { writeAll(STDERR_FILENO, text) }

/// Writes `text` to standard output at once (unbuffered), so lines from threads never interleave.
package func printToStandardOutput(_ text: String) { writeAll(STDOUT_FILENO, text) }

private func writeAll(_ descriptor: Int32, _ text: String) {
    let bytes = Array(text.utf8)
    bytes.withUnsafeBytes { raw in
        var offset = 0
        while offset < raw.count {
            let n = write(descriptor, raw.baseAddress! + offset, raw.count - offset)
            if n < 0 { if errno == EINTR { continue } else { return } }
            offset += n
        }
    }
}

/// The memory this process may still take, in bytes, and where that figure comes from: the
/// smaller of the kernel's MemAvailable (/proc/meminfo) and the room left under the cgroup's
/// memory.max (cgroup v2), when there is such a limit. Nil where neither can be read (not Linux).
func availableMemory() -> (bytes: Int, source: String)? {
    var best: (bytes: Int, source: String)?
    if let meminfo = readSmallFile("/proc/meminfo"),
       let line = meminfo.split(separator: "\n").first(where: { $0.hasPrefix("MemAvailable:") }),
       let kib = line.split(separator: " ").dropFirst().first.flatMap({ Int($0) }) {
        best = (kib * 1024, "MemAvailable in /proc/meminfo")
    }
    if let limit = readSmallFile("/sys/fs/cgroup/memory.max").flatMap({ Int($0.filter { !$0.isWhitespace }) }),
       let used = readSmallFile("/sys/fs/cgroup/memory.current").flatMap({ Int($0.filter { !$0.isWhitespace }) }) {
        let room = max(0, limit - used)
        if room < best?.bytes ?? Int.max { best = (room, "the cgroup's memory.max less memory.current") }
    }
    return best
}

/// The text of a small file (at most 64 KiB; /proc and /sys files), or nil.
private func readSmallFile(_ path: String) -> String? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var bytes = [UInt8](repeating: 0, count: 65536)
    var count = 0
    while count < bytes.count {
        let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + count, $0.count - count) }
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { break }
        count += n
    }
    return String(decoding: bytes[..<count], as: UTF8.self)
}
