import ArgumentParser
import FeatureMaps
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The `featuremaps` root command: the explorer by default, the other tools as subcommands.
@main
struct FeatureMapsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "featuremaps",
        abstract: "See what a convolutional network does to a photo, and train one on CIFAR-10.",
        discussion: """
        Without a subcommand, featuremaps runs the feature-map explorer ('explore'):
          featuremaps SampleImages/chelsea.png --out Output
          featuremaps photos/ more.jpg --out Maps --layers edges,4x5,2x7 --save-maps
        See 'featuremaps explore --help' for its options.

        Explorer exit status: 0 all done, 1 some inputs failed (or the output folder is not writable), 2 usage error.
        """,
        subcommands: [
            Explore.self,
            Bench.self,
            CIFARPreviewCommand.self,
            TrainCIFARCommand.self,
            EvaluateCommand.self,
            PredictCommand.self,
        ],
        defaultSubcommand: Explore.self
    )

    /// Runs the chosen subcommand, but exits with status 2 on usage errors (argument-parser's
    /// default is 64), the status the documentation promises shell scripts.
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            if exitCode(for: error) == .validationFailure {
                printToStandardError(fullMessage(for: error) + "\n")
                #if canImport(Glibc)
                Glibc.exit(2)
                #else
                Darwin.exit(2)
                #endif
            }
            exit(withError: error)
        }
    }
}
