import FeatureMaps
import Foundation
import ImageIO
import Kernels
import Training

/// One photo explained: what the classifier predicts and the pictures of where it looked, as
/// files under the output root.
public struct PhotoExplanation: Sendable {
    /// One of the top classes and its probability (the same ranking as `Classifier.topClasses`).
    public struct Prediction: Sendable, Equatable {
        /// The class name.
        public let name: String
        /// Its softmax probability.
        public let probability: Float
        /// The Grad-CAM overlay for this class, relative to the output root.
        public let gradCAMFile: String
    }

    /// The photo and its output folder.
    public let input: ExplorerInput
    /// The photo's size in pixels.
    public let width: Int, height: Int
    /// The top classes, most probable first.
    public let predictions: [Prediction]
    /// The photo as read, the 32x32 network input, and the top class's saliency map (relative paths).
    public let photoFile: String, networkInputFile: String, saliencyFile: String
}

/// Grad-CAM overlays and saliency maps of photos under a trained classifier, as PNG files in
/// OUT/<stem>/ and one page, OUT/explain.html, showing them (`Classifier.gradCAM` does the maths).
///
/// Per photo: photo.png (the photo as read), input_32x32.png (what the network saw: the photo
/// area-averaged to 32x32, as `predict` classifies it), gradcam_<rank>_<class>.png for each top
/// class (the map upsampled bilinearly to the photo's size, scaled to [0, 1], coloured with jet
/// and laid over the photo at opacity `overlayOpacity`), and saliency.png (the top class's
/// saliency map, upsampled and scaled the same way, coloured without the photo).
public struct ExplanationWriter {
    /// The classifier explained.
    public let classifier: Classifier
    /// The model file, as given (shown on the page).
    public let modelPath: String
    /// The Grad-CAM layer.
    public let layer: GradCAMLayer
    /// How many top classes get a map.
    public let top: Int
    /// The output folder.
    public let outputRoot: String

    /// The heat map's weight over the photo (pytorch-grad-cam's `show_cam_on_image` default).
    public static let overlayOpacity: Float = 0.5
    /// The page's file name in the output folder.
    public static let pageName = "explain.html"

    /// A writer for `classifier` (read from `modelPath`); `layerName` nil picks
    /// `Classifier.defaultGradCAMLayer()`. Throws `TrainingError.unknownLayer` for a bad name.
    public init(classifier: Classifier, modelPath: String, layer layerName: String?, top: Int, outputRoot: String) throws {
        precondition(top > 0, "ExplanationWriter: top must be positive")
        let layers = classifier.gradCAMLayers()
        let name = layerName ?? classifier.defaultGradCAMLayer() ?? ""
        guard let layer = layers.first(where: { $0.name == name }) else {
            throw TrainingError.unknownLayer(name: name, available: layers.map(\.name))
        }
        self.classifier = classifier
        self.modelPath = modelPath
        self.layer = layer
        self.top = min(top, classifier.classNames.count)
        self.outputRoot = outputRoot
    }

    /// Reads the photo of `input`, ranks its classes, computes the maps and writes the PNGs.
    /// Errors name the file (unreadable photo, unwritable output).
    public func explain(_ input: ExplorerInput) throws -> PhotoExplanation {
        let photo = try readImage(atPath: input.path)
        let ranked = classifier.rankedClasses(of: [photo], k: top)[0]
        let networkInput = classifier.inputTensor(for: [photo])
        let maps = try classifier.gradCAM(for: networkInput, classes: ranked.map(\.index), layer: layer.name)

        let folder = input.outputFolder
        try AtomicFile.createDirectories((outputRoot as NSString).appendingPathComponent(folder))
        func write(_ image: Image, _ name: String) throws -> String {
            let relative = (folder as NSString).appendingPathComponent(name)
            try writePNG(image, toPath: (outputRoot as NSString).appendingPathComponent(relative))
            return relative
        }
        func onPhoto(_ map: Tensor) -> Heatmap {
            Heatmap(width: map.shape[1], height: map.shape[0], values: map.storage)
                .resizedBilinear(width: photo.width, height: photo.height).normalized()
        }
        let photoFile = try write(photo, "photo.png")
        let networkInputFile = try write(photo.resizedByAreaAveraging(width: CIFAR10.side, height: CIFAR10.side), "input_32x32.png")
        var predictions = [PhotoExplanation.Prediction]()
        for (rank, (index, probability)) in ranked.enumerated() {
            let name = classifier.classNames[index]
            let overlay = photo.blended(with: onPhoto(maps.maps[rank]).colored(.jet), opacity: Self.overlayOpacity)
            let file = try write(overlay, "gradcam_\(rank + 1)_\(Self.fileSafe(name)).png")
            predictions.append(.init(name: name, probability: probability, gradCAMFile: file))
        }
        let saliencyFile = try write(onPhoto(maps.saliency[0]).colored(.jet), "saliency.png")
        return PhotoExplanation(input: input, width: photo.width, height: photo.height, predictions: predictions,
                                photoFile: photoFile, networkInputFile: networkInputFile, saliencyFile: saliencyFile)
    }

    /// A class name as part of a file name: letters, digits, '-' and '_' kept, others '_'.
    static func fileSafe(_ name: String) -> String {
        String(name.map { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") ? $0 : "_" })
    }

    /// The page: the model and layer, the photos that failed with their one-line reasons, and a
    /// section per photo (the photo, the network's input, each class's overlay with its
    /// probability, the saliency map). Every picture links to its file at full size.
    package func page(_ explanations: [PhotoExplanation], failures: [String]) -> HTMLPage {
        let e = HTMLPage.escape
        let shape = layer.shape.map(String.init).joined(separator: "x")
        var body = "<h1>Where did it look</h1>\n"
        body += "<p class=\"meta\">Model <code>\(e(modelPath))</code> (\(e(classifier.architecture))). "
            + "Grad-CAM at module <code>\(e(layer.name))</code> (\(e(layer.kind)) output, \(shape)) for the top \(top) "
            + "\(top == 1 ? "class" : "classes"): the module's maps weighted by the mean gradient of the class score, "
            + "positive part, upsampled to the photo, red = most. Saliency: the largest |d score / d input| over the colour "
            + "channels for the top class. Photos are area-averaged to 32x32, as <code>predict</code> sees them.</p>\n"
        if !failures.isEmpty {
            body += "<h2 class=\"error\">\(failures.count) \(failures.count == 1 ? "photo" : "photos") failed</h2>\n<ul class=\"error\">\n"
            body += failures.map { "<li>\(e($0))</li>\n" }.joined()
            body += "</ul>\n"
        }
        for explanation in explanations {
            body += "<section>\n<h2>\(e(explanation.input.path))</h2>\n<p>"
                + explanation.predictions.map { "\(e($0.name)) \(String(format: "%.3f", $0.probability))" }.joined(separator: ", ")
                + "</p>\n"
            body += figure(explanation.photoFile, caption: "photo, \(explanation.width)x\(explanation.height)")
            body += figure(explanation.networkInputFile, caption: "network input, 32x32", small: true)
            for (rank, prediction) in explanation.predictions.enumerated() {
                body += figure(prediction.gradCAMFile,
                               caption: "\(rank + 1). \(prediction.name) \(String(format: "%.3f", prediction.probability))")
            }
            body += figure(explanation.saliencyFile, caption: "saliency for \(explanation.predictions[0].name)")
            body += "</section>\n"
        }
        return HTMLPage(title: "Where did it look: \(explanations.count) \(explanations.count == 1 ? "photo" : "photos")",
                        body: body, extraStyle: Self.style)
    }

    /// Writes the page of `explanations` and of the photos that `failures` names (one line each)
    /// as OUT/explain.html, creating OUT, and returns its path.
    public func writePage(_ explanations: [PhotoExplanation], failures: [String]) throws -> String {
        try AtomicFile.createDirectories(outputRoot)
        let path = (outputRoot as NSString).appendingPathComponent(Self.pageName)
        try page(explanations, failures: failures).write(toPath: path)
        return path
    }

    /// A linked picture with its caption (`small`: a 32x32 picture, enlarged with visible pixels).
    private func figure(_ file: String, caption: String, small: Bool = false) -> String {
        let url = HTMLPage.relativeURL(file), text = HTMLPage.escape(caption)
        return "<figure\(small ? " class=\"small\"" : "")><a href=\"\(url)\"><img src=\"\(url)\" alt=\"\(text)\" loading=\"lazy\"></a>"
            + "<figcaption>\(text)</figcaption></figure>\n"
    }

    /// Photos and overlays at a common width, smoothly scaled, so a photo's six pictures fit one
    /// row of the shared 1200 px layout; the 32x32 input enlarged with its pixels.
    static let style = """
    section figure { margin: 0.3rem; }
    section figure img { width: 176px; image-rendering: auto; }
    section figure.small img { width: 96px; image-rendering: pixelated; }
    section figcaption { max-width: 176px; } section figure.small figcaption { max-width: 96px; }

    """
}
