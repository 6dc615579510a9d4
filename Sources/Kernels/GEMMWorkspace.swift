import Foundation
import KernelsC

/// Packing buffers for one thread's share of a GEMM. Workspaces are kept in a small pool and
/// only ever grow, so once the largest shape of a training step has been seen, `sgemm` does
/// not allocate. A workspace is used by one thread at a time (taken from and returned to the
/// pool), which keeps concurrent `sgemm` calls from different threads safe.
final class GEMMWorkspace {
    private var a: UnsafeMutablePointer<Float>?
    private var aCapacity = 0
    private var b: UnsafeMutablePointer<Float>?
    private var bCapacity = 0

    /// Alignment of the packed buffers: one cache line, so every packed vector load is aligned.
    private static let alignment = 64

    /// A buffer of at least `capacity` floats for packed A.
    func packedA(capacity: Int) -> UnsafeMutablePointer<Float> {
        if capacity > aCapacity || a == nil {
            a = Self.reallocate(a, capacity: capacity)
            aCapacity = capacity
        }
        return a!
    }

    /// A buffer of at least `capacity` floats for packed B.
    func packedB(capacity: Int) -> UnsafeMutablePointer<Float> {
        if capacity > bCapacity || b == nil {
            b = Self.reallocate(b, capacity: capacity)
            bCapacity = capacity
        }
        return b!
    }

    /// A buffer of at least `count` bf16 values for packed A (packed A's buffer: a thread runs one
    /// product at a time). Only the C kernels read and write it, as `uint16_t`.
    func packedBF16A(count: Int) -> UnsafeMutablePointer<UInt16> {
        UnsafeMutableRawPointer(packedA(capacity: (count + 1) / 2)).assumingMemoryBound(to: UInt16.self)
    }

    /// A buffer of at least `count` bf16 values for packed B (packed B's buffer).
    func packedBF16B(count: Int) -> UnsafeMutablePointer<UInt16> {
        UnsafeMutableRawPointer(packedB(capacity: (count + 1) / 2)).assumingMemoryBound(to: UInt16.self)
    }

    /// Scratch for the AVX-512 A * B^T kernel (`FM_AVX512_NT_WORK` floats; shares packed A's buffer,
    /// which that kernel does not use).
    func ntScratch() -> UnsafeMutablePointer<Float> {
        packedA(capacity: Int(FM_AVX512_NT_WORK))
    }

    private static func reallocate(_ old: UnsafeMutablePointer<Float>?, capacity: Int) -> UnsafeMutablePointer<Float> {
        if let old { UnsafeMutableRawPointer(old).deallocate() }
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(1, capacity) * 4 + 64, alignment: alignment)
        return raw.bindMemory(to: Float.self, capacity: max(1, capacity))
    }

    deinit {
        if let a { UnsafeMutableRawPointer(a).deallocate() }
        if let b { UnsafeMutableRawPointer(b).deallocate() }
    }

    private static let pool = WorkspacePool()

    /// Runs `body` with a workspace taken from the pool, then returns it.
    static func withWorkspace<R>(_ body: (GEMMWorkspace) -> R) -> R {
        let ws = pool.take()
        defer { pool.give(ws) }
        return body(ws)
    }
}

/// A lock-protected stack of idle workspaces.
private final class WorkspacePool: @unchecked Sendable {
    private let lock = NSLock()
    private var idle: [GEMMWorkspace] = []

    init() { idle.reserveCapacity(16) }

    func take() -> GEMMWorkspace {
        lock.lock()
        defer { lock.unlock() }
        return idle.popLast() ?? GEMMWorkspace()
    }

    func give(_ ws: GEMMWorkspace) {
        lock.lock()
        idle.append(ws)
        lock.unlock()
    }
}
