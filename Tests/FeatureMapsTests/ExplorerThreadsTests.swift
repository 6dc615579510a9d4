import Foundation
import Testing
import FeatureMaps
import Kernels

/// A network that records the kernel thread count each image sees, around the notebook stack.
private final class CountRecordingNetwork: FeatureMapNetwork, @unchecked Sendable {
    let stack = FeatureMapStack(spec: StackSpec(layers: [.edges]), inputChannels: 1, seed: 0)
    private let lock = NSLock()
    private var counts: [Int] = []
    var inputChannels: Int { stack.inputChannels }
    var minimumInputSide: Int { stack.minimumInputSide }
    var summary: String { stack.summary }
    var seen: [Int] { lock.lock(); defer { lock.unlock() }; return counts }

    func layerMaps(for input: Tensor) -> [LayerMaps] {
        lock.lock(); counts.append(Parallelism.threadCount); lock.unlock()
        return stack.layerMaps(for: input)
    }
}

@Suite("the explorer's threads")
struct ExplorerThreadsTests {
    @Test func jobsAndKernelThreadsSplitTheThreads() {
        #expect(ExplorerOptions(threads: 4).split(images: 10) == (jobs: 4, kernelThreads: 1))
        #expect(ExplorerOptions(threads: 4).split(images: 1) == (jobs: 1, kernelThreads: 4))
        #expect(ExplorerOptions(threads: 4, jobs: 2).split(images: 10) == (jobs: 2, kernelThreads: 2))
        #expect(ExplorerOptions(threads: 5, jobs: 2).split(images: 3) == (jobs: 2, kernelThreads: 2))
        #expect(ExplorerOptions(threads: 2, jobs: 8).split(images: 3) == (jobs: 3, kernelThreads: 1))
    }

    @Test func everyImageWorkerRunsInItsOwnScope() throws {
        let folder = try TestSupport.temporaryFolder()
        var inputs: [ExplorerInput] = []
        for i in 0 ..< 4 {
            try writeTestPhoto(folder + "/p\(i).png", width: 12, height: 10)
            inputs.append(ExplorerInput(path: folder + "/p\(i).png", outputFolder: "p\(i)"))
        }
        for (threads, jobs, expected) in [(4, 2, 2), (3, nil, 1), (6, 1, 6)] as [(Int, Int?, Int)] {
            let network = CountRecordingNetwork()
            let explorer = Explorer(network: network, options: ExplorerOptions(outputRoot: folder + "/out", threads: threads, jobs: jobs))
            // The explorer's init runs the network once on a probe image (its memory estimate).
            let probes = network.seen.count
            // The caller's own scope must not leak into Dispatch's worker threads, nor matter.
            let summary = Parallelism.withThreadCount(5) { explorer.run(inputs) }
            #expect(summary.succeeded == 4)
            #expect(Array(network.seen.dropFirst(probes)) == [Int](repeating: expected, count: 4),
                    "threads \(threads), jobs \(String(describing: jobs))")
        }
    }
}
