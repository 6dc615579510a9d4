import ArgumentParser
import FeatureMapsCLI
import Foundation
import Kernels
import Testing
import Training

/// Every subcommand parsed in-process: flags, defaults, option groups, deprecated spellings.
@Suite struct ParsingTests {
    func parse<T: ParsableCommand>(_ arguments: [String], as type: T.Type = T.self) throws -> T {
        try #require(try FeatureMapsCommand.parseAsRoot(arguments) as? T)
    }

    /// Whether `arguments` are refused as a usage error.
    func refused(_ arguments: [String]) -> Bool {
        do {
            _ = try FeatureMapsCommand.parseAsRoot(arguments)
            return false
        } catch {
            return FeatureMapsCommand.exitCode(for: error) == .validationFailure
        }
    }

    @Test func everySubcommandParses() throws {
        let explore = try parse(["photo.png", "-o", "Maps", "--jobs", "2", "--threads", "4"], as: ExploreCommand.self)
        #expect(explore.explorerOptions.outputRoot == "Maps")
        #expect(explore.explorerOptions.split(images: 10) == (jobs: 2, kernelThreads: 2))
        let explicit = try parse(["explore", "a.png", "b.png", "--threads", "3"], as: ExploreCommand.self)
        #expect(explicit.explorerOptions.split(images: 2) == (jobs: 2, kernelThreads: 1))
        #expect(explicit.explorerOptions.split(images: 1) == (jobs: 1, kernelThreads: 3))
        _ = try parse(["bench", "--only", "gemm", "--json", "--threads", "1"], as: BenchCommand.self)
        _ = try parse(["cifar-preview", "--data", "D", "-o", "O", "--grid", "4"], as: CIFARPreviewCommand.self)
        _ = try parse(["evaluate", "--model", "m.safetensors", "--data", "D", "-o", "O", "--no-tta", "--threads", "2"], as: EvaluateCommand.self)
        _ = try parse(["evaluate", "--tta", "--validation", "5"], as: EvaluateCommand.self)
        _ = try parse(["predict", "--model", "m.safetensors", "--threads", "1", "a.png", "b.jpg"], as: PredictCommand.self)
        let train = try parse(["train-cifar", "--arch", "vgg", "--data", "D", "-o", "O", "--no-tta", "--threads", "2", "--lr", "0.05"],
                              as: TrainCIFARCommand.self)
        let options = try train.options()
        #expect(options.model == "vgg" && options.batchSize == 128 && !options.tta)
        #expect(options.threads == 2 && options.learningRate == 0.05 && options.seed == 0 && !options.syncBatchNorm)
        let synchronized = try parse(["train-cifar", "--arch", "vgg", "--sync-bn"], as: TrainCIFARCommand.self)
        #expect(try synchronized.options().syncBatchNorm)
    }

    @Test func theReproducingCommandQuotesWhatAShellWouldSplit() {
        #expect(reproducingCommand(["featuremaps", "train-cifar", "--resume", "-o", "my run", "--arch", "c8k3p1,relu,fc10", "it's", ""],
                                   dropping: ["--resume"])
                == "featuremaps train-cifar -o 'my run' --arch c8k3p1,relu,fc10 'it'\\''s' ''")
    }

    @Test func seedDefaultsToZeroEverywhere() throws {
        #expect(try parse(["train-cifar"], as: TrainCIFARCommand.self).options().seed == 0)
        let help = FeatureMapsCommand.helpMessage(for: ExploreCommand.self)
        #expect(help.contains("--seed <seed>") && help.contains("(default: 0)"))
    }

    @Test func trainCIFARStillTakesItsArchitectureAsModel() throws {
        let old = try parse(["train-cifar", "--model", "vgg"], as: TrainCIFARCommand.self)
        #expect(try old.architecture() == "vgg")
        #expect(try old.options().model == "vgg")
        #expect(try parse(["train-cifar"], as: TrainCIFARCommand.self).architecture() == "seed")
        #expect(refused(["train-cifar", "--model", "Output/model.safetensors"]))
        #expect(refused(["train-cifar", "--model", "seed", "--arch", "vgg"]))
        #expect(refused(["train-cifar", "--arch", "c8k3,wobble,fc10"]))
    }

    @Test func oneThreadCheckForEverySubcommand() {
        for prefix in [["photo.png"], ["bench"], ["train-cifar"], ["evaluate"], ["predict", "a.png"]] {
            #expect(refused(prefix + ["--threads", "0"]), "\(prefix)")
            #expect(!refused(prefix + ["--threads", "1"]), "\(prefix)")
        }
    }

    @Test func precisionOnEverySubcommandThatRunsANetwork() throws {
        for prefix in [["bench"], ["train-cifar"], ["evaluate"], ["predict", "a.png"]] {
            #expect(!refused(prefix + ["--precision", "bf16"]), "\(prefix)")
            #expect(!refused(prefix + ["--precision", "fp32"]), "\(prefix)")
            #expect(refused(prefix + ["--precision", "fp16"]), "\(prefix)")
        }
        #expect(refused(["photo.png", "--precision", "bf16"]))  // the explorer stays fp32
        // Training keeps fp32 unless asked; the flag sets the run's option (so checkpoints record it).
        #expect(try parse(["train-cifar", "--arch", "vgg"], as: TrainCIFARCommand.self).options().precision == .fp32)
        #expect(try parse(["train-cifar", "--precision", "bf16"], as: TrainCIFARCommand.self).options().precision == .bf16)
        // A run's evaluations follow its training precision unless --evaluation-precision is given.
        let bf16 = try parse(["train-cifar", "--precision", "bf16"], as: TrainCIFARCommand.self).options()
        #expect(bf16.evaluationPrecision == nil && bf16.evaluationPrecisionInEffect == .bf16)
        let fp32Evaluations = try parse(["train-cifar", "--precision", "bf16", "--evaluation-precision", "fp32"],
                                        as: TrainCIFARCommand.self).options()
        #expect(fp32Evaluations.precision == .bf16 && fp32Evaluations.evaluationPrecisionInEffect == .fp32)
        #expect(try parse(["train-cifar"], as: TrainCIFARCommand.self).options().evaluationPrecisionInEffect == .fp32)
        #expect(refused(["train-cifar", "--evaluation-precision", "fp16"]))
        #expect(refused(["evaluate", "--evaluation-precision", "bf16"]))  // evaluate has --precision
    }

    @Test func trainingSettingsAreCheckedBeforeAnyWork() {
        #expect(refused(["train-cifar", "--lr=-1"]))
        #expect(refused(["train-cifar", "--batch-size", "0"]))
        #expect(refused(["train-cifar", "--limit", "1"]))
        #expect(refused(["train-cifar", "--warmup", "2"]))
        #expect(refused(["train-cifar", "--optimizer", "rmsprop"]))
        #expect(refused(["cifar-preview", "--grid", "0"]))
        #expect(refused(["evaluate", "--validation", "0"]))
        #expect(refused(["predict"]))
    }

    @Test func theDataFolderComesFromTheFlagThenTheEnvironment() throws {
        let cifar = try parse(["cifar-preview", "--data", "/tmp"], as: CIFARPreviewCommand.self)
        _ = cifar
        let withFlag = try CIFARDataOptions.parse(["--data", "/tmp"])
        #expect(try withFlag.resolvedPath(environment: ["CIFAR10_DIR": "/nonexistent"]) == "/tmp")
        let none = try CIFARDataOptions.parse([])
        #expect(try none.resolvedPath(environment: ["CIFAR10_DIR": "/tmp"]) == "/tmp")
        do {
            _ = try none.resolvedPath(environment: [:])
            Issue.record("no data given, yet a path")
        } catch {
            #expect("\(error)".contains("no CIFAR-10 data given") && "\(error)".contains("--data"))
            #expect("\(error)".contains("https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"))
        }
        do {
            _ = try none.resolvedPath(environment: ["CIFAR10_DIR": "/nonexistent/cifar"])
            Issue.record("a missing folder, yet a path")
        } catch {
            #expect("\(error)".hasPrefix("/nonexistent/cifar (from CIFAR10_DIR) does not exist"))
        }
    }

    /// argument-parser wraps a line longer than the terminal where it must: a line that continues
    /// its paragraph then comes out as a full line, a stub and the next line, and an indented
    /// line loses its indent. Every such line of a discussion fits 80 columns.
    @Test func discussionsNeedNoWrappingInEightyColumns() {
        let commands: [any ParsableCommand.Type] = [FeatureMapsCommand.self, ExploreCommand.self, BenchCommand.self,
                                                   CIFARPreviewCommand.self, TrainCIFARCommand.self, EvaluateCommand.self,
                                                   PredictCommand.self, ExplainCommand.self]
        for command in commands {
            let lines = command.configuration.discussion.split(separator: "\n", omittingEmptySubsequences: false)
            for (i, line) in lines.enumerated() where line.count > 80 {
                let continues = i + 1 < lines.count && !lines[i + 1].isEmpty
                #expect(!continues && !line.hasPrefix(" "), "\(command): \(line)")
            }
        }
    }

    /// The line of `help` that documents `flag`.
    func helpLine(_ help: String, _ flag: String) -> String? {
        help.split(separator: "\n").first { $0.trimmingCharacters(in: .whitespaces).hasPrefix(flag) }.map(String.init)
    }

    @Test func sharedFlagsHaveOneHelpText() throws {
        let commands: [any ParsableCommand.Type] = [ExploreCommand.self, BenchCommand.self, CIFARPreviewCommand.self,
                                                   TrainCIFARCommand.self, EvaluateCommand.self, PredictCommand.self]
        let help = Dictionary(uniqueKeysWithValues: commands.map { ("\($0)", FeatureMapsCommand.helpMessage(for: $0)) })
        func lines(_ flag: String, in names: [String]) -> Set<String> {
            Set(names.compactMap { help[$0].flatMap { helpLine($0, flag) } })
        }
        let threads = lines("--threads", in: ["ExploreCommand", "BenchCommand", "TrainCIFARCommand", "EvaluateCommand", "PredictCommand"])
        #expect(threads.count == 1, "\(threads)")
        let data = lines("--data", in: ["CIFARPreviewCommand", "TrainCIFARCommand", "EvaluateCommand"])
        #expect(data.count == 1, "\(data)")
        let out = lines("-o, --out", in: ["ExploreCommand", "CIFARPreviewCommand", "TrainCIFARCommand", "EvaluateCommand"])
        #expect(out.count == 1, "\(out)")
        let tta = lines("--tta/--no-tta", in: ["TrainCIFARCommand", "EvaluateCommand"])
        #expect(tta.count == 1, "\(tta)")
        for name in ["ExploreCommand", "EvaluateCommand", "PredictCommand"] {
            #expect(helpLine(help[name]!, "--model <file>") != nil, "\(name)")
        }
        #expect(helpLine(help["TrainCIFARCommand"]!, "--arch <arch>") != nil)
        #expect(helpLine(help["TrainCIFARCommand"]!, "--model") == nil)  // the old spelling is hidden
        #expect(helpLine(help["ExploreCommand"]!, "--jobs <n>") != nil)
    }
}

/// Library errors in the command line's words.
@Suite struct MessageTests {
    /// A checkpoint made with other settings names each setting's flag, then and now.
    @Test func checkpointMismatchNamesTheFlags() {
        let error = TrainingError.checkpointMismatch(path: "O/checkpoint.safetensors", differences: [
            SettingDifference(name: "epochs", then: "2", now: "3"),
            SettingDifference(name: "batchSize", then: "64", now: "128"),
            SettingDifference(name: "precision", then: "bf16", now: "fp32"),
        ])
        #expect(Messages.line(for: error) == "O/checkpoint.safetensors: the checkpoint was made with other arguments "
            + "(--epochs (epochs): 2 then, 3 now; --batch-size (batchSize): 64 then, 128 now; "
            + "--precision (precision): bf16 then, fp32 now); --resume needs the same ones")
        #expect(!error.description.contains("--"), "the library's own wording names no flags")
    }

    /// A data-parallel checkpoint resumed with another process count names the launcher's flag.
    @Test func processCountMismatchNamesTheLauncher() {
        let error = TrainingError.checkpointMismatch(path: "O/checkpoint.safetensors", differences: [
            SettingDifference(name: "syncBatchNorm", then: "true", now: "false"), SettingDifference(name: "ranks", then: "2", now: "1"),
        ])
        #expect(Messages.line(for: error) == "O/checkpoint.safetensors: the checkpoint was made with other arguments "
            + "(--sync-bn (syncBatchNorm): true then, false now; mpirun -np (ranks): 2 then, 1 now); --resume needs the same ones")
    }

    /// Under an MPI launcher the processes on a host share its cores; alone, a process takes them all.
    @Test func defaultThreadsShareTheHost() {
        #expect(Processes.defaultThreads(environment: [:]) == ProcessInfoCores.active)
        #expect(Processes.defaultThreads(environment: ["OMPI_COMM_WORLD_LOCAL_SIZE": "\(ProcessInfoCores.active)"]) == 1)
        #expect(Processes.defaultThreads(environment: ["MPI_LOCALNRANKS": "\(4 * ProcessInfoCores.active)"]) == 1)
        #expect(Processes.launchedSize(environment: ["OMPI_COMM_WORLD_SIZE": "2"]) == 2 && Processes.launchedSize(environment: [:]) == nil)
    }

    /// Gradient sums overlap the backward pass by default only when the ranks span hosts.
    @Test func gradientSumsOverlapByDefaultOnlyAcrossHosts() {
        #expect(!Processes.defaultOverlap(environment: [:]))
        #expect(!Processes.defaultOverlap(environment: ["OMPI_COMM_WORLD_SIZE": "2", "OMPI_COMM_WORLD_LOCAL_SIZE": "2"]))
        #expect(Processes.defaultOverlap(environment: ["OMPI_COMM_WORLD_SIZE": "2", "OMPI_COMM_WORLD_LOCAL_SIZE": "1"]))
        #expect(Processes.defaultOverlap(environment: ["PMI_SIZE": "8", "MPI_LOCALNRANKS": "4"]))
        #expect(!Processes.defaultOverlap(environment: ["PMI_SIZE": "8"]))
    }

    /// Started by mpirun but built without MPI: one line saying how to build it, rather than N
    /// processes each training alone into the same folder.
    @Test(.enabled(if: !Processes.builtWithMPI, "this build has the MPI trait: joining would initialise MPI"))
    func launchedWithoutMPIIsRefused() {
        do {
            _ = try Processes.join(environment: ["OMPI_COMM_WORLD_SIZE": "2"])
            Issue.record("joined 2 processes without MPI")
        } catch {
            #expect("\(error)".contains("--traits MPI"), "\(error)")
        }
        #expect((try? Processes.join(environment: ["OMPI_COMM_WORLD_SIZE": "1"]))?.communicator.size == 1)
    }
}
