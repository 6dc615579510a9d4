import ArgumentParser

@main
struct FeatureMapsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "featuremaps",
        abstract: "See what a convolutional network does to a photo, and train one on CIFAR-10.",
        subcommands: [Bench.self, CIFARPreviewCommand.self]
    )
    func run() throws {}
}
