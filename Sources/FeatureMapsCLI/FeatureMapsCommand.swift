import ArgumentParser
import FeatureMaps
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The `featuremaps` root command: the explorer by default, the other tools as subcommands.
public struct FeatureMapsCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "featuremaps",
        abstract: "See what a convolutional network does to a photo, and train one on CIFAR-10.",
        discussion: """
        Without a subcommand, featuremaps runs the feature-map explorer ('explore'):
          featuremaps SampleImages/chelsea.png --out Output
          featuremaps photos/ more.jpg --out Maps --layers edges,4x5,2x7 --save-maps
        See 'featuremaps explore --help' for its options.

        The same flag means the same thing in every subcommand: --model a model file \
        (model.safetensors), --arch a network to train, --threads the threads to use, \
        --data the CIFAR-10 data, -o/--out the output folder, --seed a seed (default 0).

        Exit status: 0 done, 1 failed (one line on standard error; for the explorer, some inputs \
        failed or the output folder is not writable), 2 usage error.
        """,
        subcommands: [
            ExploreCommand.self,
            BenchCommand.self,
            CIFARPreviewCommand.self,
            TrainCIFARCommand.self,
            EvaluateCommand.self,
            PredictCommand.self,
            ExplainCommand.self,
            GradientCheckCommand.self,
        ],
        defaultSubcommand: ExploreCommand.self
    )

    public init() {}

    /// Runs the chosen subcommand. Usage errors exit with status 2 (argument-parser's default is
    /// 64), the status the documentation promises shell scripts; other failures print one line,
    /// `featuremaps: MESSAGE` with library errors worded in flags (`Messages`), and exit with 1.
    public static func runCommandLine() -> Never {
        do {
            var command = try parseAsRoot()
            try command.run()
            terminate(0)
        } catch {
            let code = exitCode(for: error)
            if code == .validationFailure {
                printToStandardError(fullMessage(for: error) + "\n")
                terminate(2)
            }
            if error is ExitCode || error is CleanExit || code == .success {
                exit(withError: error)
            }
            printToStandardError("featuremaps: \(Messages.line(for: error))\n")
            terminate(code.rawValue)
        }
    }

    private static func terminate(_ status: Int32) -> Never {
        #if canImport(Glibc)
        Glibc.exit(status)
        #else
        Darwin.exit(status)
        #endif
    }
}
