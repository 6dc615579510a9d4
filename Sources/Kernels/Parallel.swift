import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How many threads kernels split work across. Results are bit-identical for a given value:
/// work is partitioned statically by index, never by which thread finishes first.
///
/// The count is scoped, never set process-wide: `withThreadCount(n) { ... }` gives `n` to
/// everything its body runs on the same task or thread (and, through `parallelFor`, to the code
/// its chunks run on the worker threads), so concurrent callers (parallel tests, the explorer's
/// image workers) each see their own count. Code on threads the scope does not reach (a
/// `DispatchQueue`, a `Thread`, a detached task) must be handed the count and open its own scope.
public enum Parallelism {
    /// The count in effect here: the innermost `withThreadCount` of this task or thread, else
    /// the count of the `parallelFor` whose chunk this code runs in, else every active core.
    public static var threadCount: Int {
        if let scoped = scopedThreadCount { return scoped }
        return WorkerPool.chunkThreadCount ?? defaultThreadCount
    }

    /// Runs `body` with `threadCount` equal to `count` (at least 1) for everything it calls on
    /// this task or thread, and for `parallelFor` chunks it starts; the previous count applies
    /// again when it returns. A task-local value, so it works from synchronous code and child
    /// tasks inherit it.
    public static func withThreadCount<R>(_ count: Int, _ body: () throws -> R) rethrows -> R {
        try $scopedThreadCount.withValue(max(1, count), operation: body)
    }

    /// The innermost `withThreadCount` scope's count (nil outside every scope).
    @TaskLocal private static var scopedThreadCount: Int?

    /// Every active core, read once (the count outside every scope).
    static let defaultThreadCount = ProcessInfoCores.active
}

/// The number of cores available to this process.
public enum ProcessInfoCores {
    /// Active processor count as the OS reports it (at least 1).
    public static var active: Int {
        max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    }
}

/// Runs `body(range)` over `0..<count` split into `Parallelism.threadCount` contiguous,
/// nearly equal chunks (static partition, so results never depend on scheduling).
/// Runs inline when there is one thread or one item. Chunk 0 runs on the calling thread and
/// the others on `WorkerPool.shared`'s threads; when the pool is busy (a `parallelFor` from inside
/// another one, or a second thread calling at the same time) the chunks run one after another
/// on the calling thread, with the same partition and therefore the same results.
package func parallelFor(_ count: Int, _ body: (_ range: Range<Int>) -> Void) {
    let scope = Parallelism.threadCount
    let threads = min(scope, count)
    if threads <= 1 {
        if count > 0 { body(0..<count) }
        return
    }
    let ranOnPool = WorkerPool.shared.run(width: threads, threadCount: scope) { t in
        let lo = count * t / threads, hi = count * (t + 1) / threads
        if lo < hi { body(lo..<hi) }
    }
    if !ranOnPool {
        for t in 0..<threads {
            let lo = count * t / threads, hi = count * (t + 1) / threads
            if lo < hi { body(lo..<hi) }
        }
    }
}

/// Persistent worker threads for `parallelFor`, handing out work without allocating.
///
/// `DispatchQueue.concurrentPerform` heap-allocates on every call (measured: 2 mallocs per call
/// with 2 threads, by the allocation-counting kernel test); here the only allocation per call is
/// the one box `withoutActuallyEscaping` makes. A parallelFor inside another (or one racing
/// another thread's) runs inline instead of waiting, so nesting cannot deadlock and allocates
/// nothing. A job is a generation number, a closure reference and a width, published under one
/// mutex; workers sleep on a condition variable between jobs (no spinning on a shared 2-core machine).
final class WorkerPool: @unchecked Sendable {
    /// The process-wide pool; threads are started on first use and never stopped.
    static let shared = WorkerPool()

    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let owner = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let wake = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private let finished = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    // Guarded by `mutex`.
    private var started = 0
    private var generation: UInt64 = 0
    private var job: ((Int) -> Void)?
    private var width = 0
    private var threadCount = 1
    private var remaining = 0

    /// The thread-specific slot holding, on a worker thread, the thread count of the
    /// `parallelFor` whose chunk it runs (nil on every other thread). Created once.
    private static let chunkThreadCountKey: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()

    /// On a worker thread, the count of the caller whose chunk runs here; nil elsewhere.
    static var chunkThreadCount: Int? {
        guard let word = pthread_getspecific(chunkThreadCountKey) else { return nil }
        return Int(bitPattern: word)
    }

    private init() {
        pthread_mutex_init(mutex, nil)
        pthread_mutex_init(owner, nil)
        pthread_cond_init(wake, nil)
        pthread_cond_init(finished, nil)
    }

    /// Runs `body(0)` on the caller and `body(1..<width)` on workers, returning when all are done;
    /// returns false without running anything when another caller holds the pool. Code in the
    /// workers' chunks sees `Parallelism.threadCount == threadCount`, the caller's count.
    func run(width: Int, threadCount: Int, _ body: (Int) -> Void) -> Bool {
        guard pthread_mutex_trylock(owner) == 0 else { return false }
        defer { pthread_mutex_unlock(owner) }
        startWorkers(upTo: width - 1)
        // Swift's withoutActuallyEscaping boxes the closure (one small transient allocation per
        // call, measured); the workers use it only while this call waits for them.
        withoutActuallyEscaping(body) { escapable in
            pthread_mutex_lock(mutex)
            job = escapable
            self.width = width
            self.threadCount = threadCount
            remaining = width - 1
            generation &+= 1
            pthread_cond_broadcast(wake)
            pthread_mutex_unlock(mutex)

            escapable(0)

            pthread_mutex_lock(mutex)
            while remaining > 0 { pthread_cond_wait(finished, mutex) }
            job = nil
            pthread_mutex_unlock(mutex)
        }
        return true
    }

    private func startWorkers(upTo count: Int) {
        pthread_mutex_lock(mutex)
        let first = started + 1
        let seen = generation
        if count > started { started = count }
        pthread_mutex_unlock(mutex)
        guard first <= count else { return }
        for index in first...count {
            let thread = Thread { [unowned self] in self.workerLoop(index: index, seen: seen) }
            thread.name = "parallelFor-\(index)"
            thread.start()
        }
    }

    private func workerLoop(index: Int, seen initial: UInt64) {
        var seen = initial
        while true {
            pthread_mutex_lock(mutex)
            while generation == seen { pthread_cond_wait(wake, mutex) }
            seen = generation
            let takesPart = index < width
            let count = threadCount
            pthread_mutex_unlock(mutex)
            guard takesPart else { continue }
            // A task-local scope does not reach this thread, so the caller's count is published
            // in thread-specific storage (a word, no allocation) for the chunk to read.
            pthread_setspecific(Self.chunkThreadCountKey, UnsafeRawPointer(bitPattern: count))
            runChunk(index)
            pthread_mutex_lock(mutex)
            remaining -= 1
            if remaining == 0 { pthread_cond_signal(finished) }
            pthread_mutex_unlock(mutex)
        }
    }

    /// Calls the current job's chunk; the job cannot change until this worker reports back.
    /// A separate function so the reference to the closure is released before reporting.
    @inline(never)
    private func runChunk(_ index: Int) {
        pthread_mutex_lock(mutex)
        let work = job
        pthread_mutex_unlock(mutex)
        work?(index)
    }
}
