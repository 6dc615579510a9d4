import Foundation
import Testing

/// `train-cifar` killed with SIGKILL (no chance to save anything) and run again with --resume
/// ends with the same model file, byte for byte, as a run never stopped.
@Suite struct TrainCIFARCommandTests {
    @Test(.enabled(if: executable != nil, "the featuremaps executable is not built beside the tests"))
    func aRunKilledWithSIGKILLResumesToTheSameModel() throws {
        let cifar = try Scratch.cifar(records: 16)
        let arguments = ["train-cifar", "--arch", "c4k3p1,bn,relu,mp4,fc10", "--epochs", "40", "--batch-size", "8",
                         "--threads", "1", "--seed", "7", "--data", cifar, "--records-per-file", "16"]
        let straight = try Scratch.folder() + "/run"
        let whole = try featuremaps(arguments + ["-o", straight])
        #expect(whole.status == 0, "\(whole.err)")

        let killed = try Scratch.folder() + "/run"
        let checkpoint = killed + "/checkpoint.safetensors", model = killed + "/model.safetensors"
        let running = try Running(arguments + ["-o", killed])
        // Wait for the first checkpoint (the end of epoch 1), then a little, so the kill lands in
        // a later epoch, mid-step or mid-write, wherever the process happens to be.
        let deadline = Date().addingTimeInterval(120)
        while !FileManager.default.fileExists(atPath: checkpoint) && running.process.isRunning && Date() < deadline {
            usleep(2_000)
        }
        usleep(50_000)
        #expect(kill(running.process.processIdentifier, SIGKILL) == 0)
        let first = try running.wait()
        #expect(running.process.terminationReason == .uncaughtSignal && first.status == SIGKILL, "exit \(first.status): \(first.err)")
        #expect(FileManager.default.fileExists(atPath: checkpoint))
        try #require(!FileManager.default.fileExists(atPath: model), "the run ended before the kill; the test needs a longer run")

        // A damaged checkpoint is refused in one line naming it; the whole one then resumes.
        let saved = try Data(contentsOf: URL(fileURLWithPath: checkpoint))
        try saved.prefix(saved.count / 2).write(to: URL(fileURLWithPath: checkpoint))
        let damaged = try featuremaps(arguments + ["-o", killed, "--resume"])
        #expect(damaged.status == 1 && damaged.errLines.count == 1, "\(damaged.err)")
        #expect(damaged.err.hasPrefix("featuremaps: \(checkpoint): truncated"), "\(damaged.err)")
        try saved.write(to: URL(fileURLWithPath: checkpoint))

        let resumed = try featuremaps(arguments + ["-o", killed, "--resume"])
        #expect(resumed.status == 0, "\(resumed.err)")
        #expect(resumed.out.contains("resuming from \(checkpoint): epoch "))
        let a = try Data(contentsOf: URL(fileURLWithPath: straight + "/model.safetensors"))
        let b = try Data(contentsOf: URL(fileURLWithPath: model))
        #expect(a == b, "the resumed model differs from the uninterrupted one")
    }

    @Test(.enabled(if: executable != nil, "the featuremaps executable is not built beside the tests"))
    func resumeWithoutACheckpointSaysSoAndWritesNoModel() throws {
        let cifar = try Scratch.cifar(records: 4)
        let folder = try Scratch.folder()
        let run = try featuremaps(["train-cifar", "--arch", "c4k3p1,relu,mp4,fc10", "--epochs", "1", "--threads", "1",
                                   "--data", cifar, "--records-per-file", "4", "-o", folder, "--resume"])
        #expect(run.status == 1)
        #expect(run.errLines == ["featuremaps: --resume: no checkpoint at \(folder)/checkpoint.safetensors (is --out the folder of the stopped run?)"])
        // Only the run's lock file (OutputLock), taken before the checkpoint is looked for.
        #expect(Scratch.files(under: folder) == [".lock"])
    }
}
