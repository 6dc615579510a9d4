// swift-tools-version: 6.1
import PackageDescription

// Where the featuremaps package comes from. OWNER is a placeholder until the project is published:
// put the repository's address here. FEATUREMAPS_PACKAGE_URL overrides it, so CI can build this
// example against a tagged local clone (`file:///path/to/clone`), which SwiftPM treats like any
// remote repository.
let featuremapsURL = Context.environment["FEATUREMAPS_PACKAGE_URL"] ?? "https://github.com/OWNER/featuremaps.git"

let package = Package(
    name: "TrainAndExplore",
    // featuremaps needs macOS 13; packages that depend on it must ask for at least as much.
    platforms: [.macOS(.v13)],
    dependencies: [
        .package(url: featuremapsURL, from: "0.1.0"),
    ],
    targets: [
        .executableTarget(
            name: "TrainAndExplore",
            dependencies: [
                .product(name: "Kernels", package: "featuremaps"),
                .product(name: "Training", package: "featuremaps"),
                .product(name: "ImageIO", package: "featuremaps"),
                .product(name: "FeatureMaps", package: "featuremaps"),
            ],
            resources: [.copy("chelsea.jpg")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
