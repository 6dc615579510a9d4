import Foundation
import Testing

/// `featuremaps explain` run as the built executable on a tiny trained model: the files and the
/// page, agreement with `predict`, and one-line errors.
@Suite(.enabled(if: executable != nil, "featuremaps executable not built"))
struct ExplainCommandTests {
    /// Trains a tiny batch-norm network on the tiny data set; returns the model file.
    private func tinyModel(in folder: String) throws -> String {
        let cifar = try Scratch.cifar(records: 4)
        let train = try featuremaps(["train-cifar", "--arch", "c4k3p1,bn,relu,mp2,c6k3p1,bn,relu,mp4,fc10", "--epochs", "1",
                                     "--batch-size", "8", "--threads", "1", "-o", folder + "/run",
                                     "--data", cifar, "--records-per-file", "4"])
        #expect(train.status == 0, "\(train.err)")
        return folder + "/run/model.safetensors"
    }

    /// The src and href targets of `html`, percent-decoded.
    private func links(in html: String) -> [String] {
        let pattern = try! NSRegularExpression(pattern: "(?:src|href)=\"([^\"]*)\"")
        return pattern.matches(in: html, range: NSRange(html.startIndex..., in: html)).map { match in
            let raw = String(html[Range(match.range(at: 1), in: html)!])
            return raw.removingPercentEncoding ?? raw
        }
    }

    @Test func explainWritesMapsAndAPageAndAgreesWithPredict() throws {
        let folder = try Scratch.folder()
        let model = try tinyModel(in: folder)
        let photo = try Scratch.photo(folder + "/my photo.png")
        let out = folder + "/explained"
        let run = try featuremaps(["explain", Scratch.chelseaPath, photo, "--model", model, "-o", out, "--threads", "1"])
        #expect(run.status == 0, "\(run.err)")
        #expect(run.err.isEmpty)

        // The same lines as predict: the same classes, order and probabilities.
        let predict = try featuremaps(["predict", "--model", model, "--threads", "1", Scratch.chelseaPath, photo])
        #expect(predict.status == 0)
        let lines = run.out.split(separator: "\n")
        #expect(Array(lines.prefix(2)) == predict.out.split(separator: "\n"))
        #expect(lines.last == "wrote \(out)/explain.html")

        let files = Scratch.files(under: out)
        for stem in ["chelsea", "my photo"] {
            #expect(files.filter { $0.hasPrefix(stem + "/gradcam_") }.count == 3, "\(files)")
            for name in ["photo.png", "input_32x32.png", "saliency.png"] { #expect(files.contains(stem + "/" + name), "\(files)") }
        }
        // The top class's overlay is named after predict's first class.
        let topClass = predict.out.split(separator: "\n")[0].split(separator: " ")[1]
        #expect(files.contains("chelsea/gradcam_1_\(topClass).png"))

        let html = try String(contentsOfFile: out + "/explain.html", encoding: .utf8)
        let targets = links(in: html)
        #expect(targets.count >= 2 * 2 * 6)  // two photos, six pictures each, src and href
        for target in targets {
            #expect(!target.hasPrefix("/") && !target.contains("://"), "not relative: \(target)")
            #expect(FileManager.default.fileExists(atPath: out + "/" + target), "broken link \(target)")
        }
        #expect(html.contains("my photo/gradcam_1_") == false && html.contains("my%20photo/gradcam_1_"))
    }

    @Test func badLayerAndBadPhotoAreOneLineEach() throws {
        let folder = try Scratch.folder()
        let model = try tinyModel(in: folder)
        let photo = try Scratch.photo(folder + "/photo.png")

        let layer = try featuremaps(["explain", photo, "--model", model, "-o", folder + "/a", "--layer", "fc"])
        #expect(layer.status == 1)
        #expect(layer.errLines == ["featuremaps: --layer fc: the model has no module of that name with feature maps; choose one of 0, 1, 2, 3, 4, 5, 6, 7"])

        let one = try featuremaps(["explain", photo, "--model", model, "-o", folder + "/b", "--layer", "1", "--top", "1"])
        #expect(one.status == 0, "\(one.err)")
        #expect(Scratch.files(under: folder + "/b").filter { $0.contains("gradcam_") }.count == 1)

        let missing = folder + "/none.png"
        try Data("not an image".utf8).write(to: URL(fileURLWithPath: folder + "/text.png"))
        let bad = try featuremaps(["explain", missing, photo, folder + "/text.png", "--model", model, "-o", folder + "/c"])
        #expect(bad.status == 1)
        #expect(bad.errLines.count == 2, "\(bad.err)")
        #expect(bad.errLines.first?.hasPrefix("featuremaps: \(missing): ") == true)
        #expect(bad.errLines.last?.hasPrefix("featuremaps: \(folder)/text.png: not a PNG or JPEG") == true)
        #expect(bad.out.hasPrefix(photo + ": "))  // the readable photo is still explained
        let html = try String(contentsOfFile: folder + "/c/explain.html", encoding: .utf8)
        #expect(html.contains("2 photos failed") && html.contains("none.png") && html.contains("photo/gradcam_1_"))
    }
}
