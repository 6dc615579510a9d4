import Foundation
import Testing
import Kernels

/// The thread count is a scoped value: scopes nest and end, concurrent scopes do not see each
/// other, and `parallelFor` chunks on the worker threads see their caller's count.
@Suite struct ThreadCountScopeTests {
    @Test func scopesNestAndEnd() {
        let outside = Parallelism.threadCount
        #expect(outside >= 1)
        Parallelism.withThreadCount(3) {
            #expect(Parallelism.threadCount == 3)
            Parallelism.withThreadCount(1) { #expect(Parallelism.threadCount == 1) }
            #expect(Parallelism.threadCount == 3)
        }
        #expect(Parallelism.threadCount == outside)
        Parallelism.withThreadCount(0) { #expect(Parallelism.threadCount == 1) }  // at least 1
    }

    @Test func concurrentScopesAreIndependent() async {
        // Many tasks at once, each in its own scope, each reading its own count throughout.
        let mismatches = await withTaskGroup(of: Int.self) { group in
            for count in 1 ... 16 {
                group.addTask {
                    Parallelism.withThreadCount(count) {
                        var wrong = 0
                        for _ in 0 ..< 2_000 where Parallelism.threadCount != count { wrong += 1 }
                        return wrong
                    }
                }
            }
            return await group.reduce(0, +)
        }
        #expect(mismatches == 0)
    }

    @Test func chunksOnWorkerThreadsSeeTheCallersCount() {
        for count in [2, 3] {
            let seen = Parallelism.withThreadCount(count) { () -> [Int] in
                var seen = [Int](repeating: 0, count: count)
                seen.withUnsafeMutableBufferPointer { out in
                    nonisolated(unsafe) let out = out
                    parallelFor(count) { range in
                        for i in range { out[i] = Parallelism.threadCount }
                    }
                }
                return seen
            }
            #expect(seen == [Int](repeating: count, count: count))
        }
        // And the partition follows the scope: one chunk per thread of the scope.
        let chunks = Parallelism.withThreadCount(3) { () -> Int in
            let lock = NSLock()
            var chunks = 0
            parallelFor(12) { _ in lock.lock(); chunks += 1; lock.unlock() }
            return chunks
        }
        #expect(chunks == 3)
    }
}
