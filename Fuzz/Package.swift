// swift-tools-version: 6.1
import PackageDescription

// libFuzzer targets for the readers of untrusted input (Docs/FUZZING.md). A package of its own so
// the main Package.swift stays free of sanitizer flags; build and run with Scripts/fuzz.sh, which
// passes -sanitize=fuzzer,address and -enable-testing to every module (the main package's too, for
// coverage and for the @testable imports that reach the byte-level readers).

let package = Package(
    name: "featuremaps-fuzz",
    // Through the symlink Fuzz/featuremaps -> .., so the main package has the identity "featuremaps"
    // whatever the clone's folder is called.
    dependencies: [.package(path: "featuremaps")],
    targets: [
        // libFuzzer's LLVMFuzzerRunDriver, declared for Swift, and the main every harness shares.
        .target(name: "CFuzzDriver"),
        .target(name: "FuzzSupport", dependencies: ["CFuzzDriver"]),
        // Safetensors.decode, then the model metadata and tensors through Classifier.load.
        .executableTarget(name: "fuzz-safetensors", dependencies: ["FuzzSupport", .product(name: "Training", package: "featuremaps")],
                          path: "Sources/safetensors"),
        // A train-cifar checkpoint through Checkpoint.restore against a fixed tiny run.
        .executableTarget(name: "fuzz-checkpoint", dependencies: ["FuzzSupport", .product(name: "Training", package: "featuremaps")],
                          path: "Sources/checkpoint"),
        // A CIFAR-10 binary batch, batches.meta.txt, and the .tar.gz (gzip, tar, members).
        .executableTarget(name: "fuzz-cifar", dependencies: ["FuzzSupport", .product(name: "Training", package: "featuremaps")],
                          path: "Sources/cifar"),
        // The explorer's layer spec and train-cifar's model spec (parse, output shape, weight count).
        .executableTarget(name: "fuzz-specs", dependencies: ["FuzzSupport", .product(name: "Training", package: "featuremaps"),
                                                             .product(name: "FeatureMaps", package: "featuremaps")],
                          path: "Sources/specs"),
        // PNG (libpng) and JPEG (libjpeg-turbo through the C shim), recognised by signature as readImage does.
        .executableTarget(name: "fuzz-image", dependencies: ["FuzzSupport", .product(name: "ImageIO", package: "featuremaps")],
                          path: "Sources/image"),
    ],
    swiftLanguageModes: [.v6]
)
