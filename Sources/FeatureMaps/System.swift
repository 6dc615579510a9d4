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
public func standardErrorIsTerminal() -> Bool { isatty(STDERR_FILENO) != 0 }

/// Writes `text` to standard error at once (unbuffered), for progress and error lines.
public func printToStandardError(_ text: String) { writeAll(STDERR_FILENO, text) }

/// Writes `text` to standard output at once (unbuffered), so lines from threads never interleave.
public func printToStandardOutput(_ text: String) { writeAll(STDOUT_FILENO, text) }

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
