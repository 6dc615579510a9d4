import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

private let stopRequested = Atomic<Bool>(false)

/// Ctrl-C (SIGINT) and SIGTERM as a request to stop cleanly: the handler only sets a flag; the
/// training loop finishes its current step, saves a checkpoint and returns. A second signal
/// while the first is pending exits at once (status 130).
package enum StopRequest {
    /// Installs the handlers (idempotent).
    public static func install() {
        for sig in [SIGINT, SIGTERM] {
            signal(sig) { _ in
                if stopRequested.exchange(true, ordering: .relaxed) { _exit(130) }
            }
        }
    }

    /// Whether a stop was requested.
    public static var isRequested: Bool { stopRequested.load(ordering: .relaxed) }

    /// Requests a stop from code (tests use it to interrupt a run at a chosen step).
    public static func request() { stopRequested.store(true, ordering: .relaxed) }

    /// Clears a request (after the run that honoured it has returned).
    public static func reset() { stopRequested.store(false, ordering: .relaxed) }
}
