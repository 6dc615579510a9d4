import Dispatch
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How many threads kernels split work across. Results are bit-identical for a given value:
/// work is partitioned statically by index, never by which thread finishes first.
public enum Parallelism {
    /// Worker count used by `parallelFor`; defaults to the number of active cores.
    /// Set once at start-up (for example from a `--threads` option), before any kernel runs.
    nonisolated(unsafe) public static var threadCount: Int = ProcessInfoCores.active
}

/// The number of cores available to this process.
public enum ProcessInfoCores {
    /// Active processor count as the OS reports it (at least 1).
    public static var active: Int {
        max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    }
}

/// Runs `body(chunk, range)` over `0..<count` split into `Parallelism.threadCount` contiguous,
/// nearly equal chunks (static partition, so results never depend on scheduling).
/// Runs inline when there is one thread or one item.
@inlinable
public func parallelFor(_ count: Int, _ body: (_ range: Range<Int>) -> Void) {
    let threads = min(Parallelism.threadCount, count)
    if threads <= 1 {
        if count > 0 { body(0..<count) }
        return
    }
    withoutActuallyEscaping(body) { escapable in
        // Each chunk touches disjoint indices; the caller's closure is responsible for that.
        nonisolated(unsafe) let chunkBody = escapable
        DispatchQueue.concurrentPerform(iterations: threads) { t in
            let lo = count * t / threads
            let hi = count * (t + 1) / threads
            if lo < hi { chunkBody(lo..<hi) }
        }
    }
}
