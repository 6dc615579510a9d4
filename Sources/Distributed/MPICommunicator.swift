#if MPI
import CMPI
import Training

/// Training's `Communicator` over MPI's world communicator: the processes `mpirun -np N`
/// started. Creating it initialises MPI for the process and `finish()` or `abort(status:)` ends
/// it, so the command line that owns the process owns its lifetime; nothing else here touches
/// process-wide state.
///
/// The gradient sum is a ring all-reduce written with `MPI_Sendrecv` rather than
/// `MPI_Allreduce`: MPI lets an implementation pick its algorithm (and so its order of
/// additions) by message size, process count and placement, and OpenMPI and MPICH pick
/// differently, so the same N could give other bits on another cluster. In this ring, chunk c
/// of the buffer is always summed as ((x_c + x_c+1) + x_c+2) + ... in rank order starting at
/// rank c, whatever the timing, and every rank receives the same finished bits. It is also the
/// bandwidth-optimal schedule (each rank sends 2 (N-1)/N of the buffer), the one the cost model
/// in Docs/DISTRIBUTED.md assumes.
///
/// Errors: MPI's default handler on the world communicator (`MPI_ERRORS_ARE_FATAL`) aborts the
/// job, and a rank that dies makes the launcher end the others, so no call here waits forever.
package final class MPICommunicator: Communicator {
    package let rank: Int
    package let size: Int
    private let world: MPI_Comm
    /// A duplicate of the world communicator for the gradient ring alone, so its messages never
    /// meet the other calls' (the batch norms' sums) when it runs on the reducer's thread.
    private let gradientRing: MPI_Comm
    package let allowsGradientSumsOnAnotherThread: Bool
    private var scratch = [Float]()
    /// Every rank's small vector, gathered (kept between calls: a step makes several).
    private var gathered = [Double]()
    private static let tag: Int32 = 15

    /// Initialises MPI (once per process, from the thread that runs the training loop).
    package init() {
        var provided: Int32 = 0
        // The training loop's thread makes every call but the gradient sums, which the
        // reducer's own thread makes when it overlaps them with the backward pass: that needs
        // MPI_THREAD_MULTIPLE. Without it, every call stays on the training loop's thread.
        MPI_Init_thread(nil, nil, Int32(MPI_THREAD_MULTIPLE), &provided)
        allowsGradientSumsOnAnotherThread = provided >= Int32(MPI_THREAD_MULTIPLE)
        world = cmpi_comm_world()
        gradientRing = cmpi_comm_dup(world)
        var r: Int32 = 0, s: Int32 = 0
        MPI_Comm_rank(world, &r)
        MPI_Comm_size(world, &s)
        rank = Int(r)
        size = Int(s)
    }

    /// Ends MPI after a successful run (collective: every rank calls it).
    package func finish() {
        MPI_Finalize()
    }

    /// Ends every process of the job with `status` (a failure on one rank must not leave the
    /// others waiting in a collective).
    package func abort(status: Int32) -> Never {
        MPI_Abort(world, status)
        fatalError("MPI_Abort returned")
    }

    package func allreduceSum(_ values: UnsafeMutableBufferPointer<Float>) {
        let n = size, count = values.count
        guard n > 1, count > 0, let base = values.baseAddress else { return }
        func chunk(_ c: Int) -> Range<Int> {
            let c = ((c % n) + n) % n
            return count * c / n ..< count * (c + 1) / n
        }
        let right = Int32((rank + 1) % n), left = Int32((rank + n - 1) % n)
        if scratch.count < count / n + 1 { scratch = [Float](repeating: 0, count: count / n + 1) }
        let float = cmpi_float()
        // Reduce-scatter: at step s this rank passes on chunk rank - s and adds its own values
        // to chunk rank - s - 1 as it arrives. Afterwards it holds the finished chunk rank + 1.
        scratch.withUnsafeMutableBufferPointer { tmp in
            for s in 0 ..< n - 1 {
                let send = chunk(rank - s), receive = chunk(rank - s - 1)
                MPI_Sendrecv(base + send.lowerBound, Int32(send.count), float, right, Self.tag,
                             tmp.baseAddress, Int32(receive.count), float, left, Self.tag, gradientRing, cmpi_status_ignore())
                for i in receive { base[i] = tmp[i - receive.lowerBound] + base[i] }
            }
        }
        // All-gather: pass the finished chunks around the ring.
        for s in 0 ..< n - 1 {
            let send = chunk(rank + 1 - s), receive = chunk(rank - s)
            MPI_Sendrecv(base + send.lowerBound, Int32(send.count), float, right, Self.tag,
                         base + receive.lowerBound, Int32(receive.count), float, left, Self.tag, gradientRing, cmpi_status_ignore())
        }
    }

    /// Small vectors (the logged figures, a stop flag): gathered whole and summed in rank order.
    package func allreduceSum(_ values: inout [Double]) {
        let k = values.count
        guard size > 1, k > 0 else { return }
        if gathered.count < k * size { gathered = [Double](repeating: 0, count: k * size) }
        values.withUnsafeBufferPointer { mine in
            gathered.withUnsafeMutableBufferPointer { out in
                _ = MPI_Allgather(mine.baseAddress, Int32(k), cmpi_double(), out.baseAddress, Int32(k), cmpi_double(), world)
            }
        }
        for i in 0 ..< k { values[i] = (0 ..< size).reduce(0) { $0 + gathered[$1 * k + i] } }
    }

    package func broadcast(_ values: UnsafeMutableBufferPointer<Float>, from root: Int) {
        guard size > 1, let base = values.baseAddress else { return }
        var offset = 0
        while offset < values.count {
            let n = min(values.count - offset, Int(Int32.max))
            MPI_Bcast(base + offset, Int32(n), cmpi_float(), Int32(root), world)
            offset += n
        }
    }

    package func broadcast(bytes: [UInt8]?, from root: Int) -> [UInt8]? {
        guard size > 1 else { return bytes }
        // The length first (-1: the root has nothing to send), then the bytes.
        var length: Int64 = rank == root ? Int64(bytes?.count ?? -1) : 0
        MPI_Bcast(&length, 1, cmpi_int64(), Int32(root), world)
        guard length >= 0 else { return nil }
        var buffer = rank == root ? bytes! : [UInt8](repeating: 0, count: Int(length))
        buffer.withUnsafeMutableBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = min(raw.count - offset, Int(Int32.max))
                MPI_Bcast(raw.baseAddress! + offset, Int32(n), cmpi_byte(), Int32(root), world)
                offset += n
            }
        }
        return buffer
    }
}
#endif
