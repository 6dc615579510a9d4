import Foundation
import Testing

/// Every subcommand run once as the built executable, on tiny inputs: exit statuses, outputs
/// and one-line errors.
@Suite(.enabled(if: executable != nil, "featuremaps executable not built"))
struct SubcommandRunTests {
    @Test func everyHelpPrintsUsage() throws {
        for arguments in [["--help"], ["explore", "--help"], ["bench", "--help"], ["cifar-preview", "--help"],
                          ["train-cifar", "--help"], ["evaluate", "--help"], ["predict", "--help"], ["explain", "--help"],
                          ["help", "train-cifar"]] {
            let run = try featuremaps(arguments)
            #expect(run.status == 0, "\(arguments)")
            #expect(run.out.contains("USAGE:"), "\(arguments)")
        }
    }

    @Test func trainEvaluatePredictAndExploreATinyModel() throws {
        let cifar = try Scratch.cifar(records: 4)
        let folder = try Scratch.folder()
        let data = ["--data", cifar, "--records-per-file", "4"]
        let train = try featuremaps(["train-cifar", "--arch", "c4k3p1,relu,mp4,fc10", "--epochs", "1", "--batch-size", "8",
                                     "--threads", "1", "-o", folder + "/run"] + data)
        #expect(train.status == 0, "\(train.err)")
        #expect(train.out.contains("test accuracy: ") && train.err.isEmpty)
        let model = folder + "/run/model.safetensors"
        #expect(FileManager.default.fileExists(atPath: model))

        let evaluate = try featuremaps(["evaluate", "--model", model, "-o", folder + "/eval", "--tta", "--threads", "1"] + data)
        #expect(evaluate.status == 0, "\(evaluate.err)")
        #expect(evaluate.out.contains("test accuracy: "))
        let written = Scratch.files(under: folder + "/eval")
        #expect(written.filter { !$0.hasPrefix("report_files/") } == ["confusion.svg", "per-class.csv", "report.html"])
        #expect(written.contains("report_files/filters.png") && written.filter { $0.hasPrefix("report_files/test-") }.count == 4)
        for (page, folderName) in [("/eval/report.html", "/eval"), ("/run/report.html", "/run")] {
            let html = try String(contentsOfFile: folder + page, encoding: .utf8)
            let links = html.components(separatedBy: "src=\"").dropFirst().map { String($0.prefix { $0 != "\"" }) }
            #expect(!links.isEmpty)
            for link in links { #expect(FileManager.default.fileExists(atPath: folder + folderName + "/" + link), "\(page): \(link)") }
            // The command that reproduces the run, as run.
            #expect(html.contains(page.hasPrefix("/eval") ? "evaluate --model " : "train-cifar --arch c4k3p1,relu,mp4,fc10"))
        }
        // evaluate finds the training run's metrics beside the model.
        #expect(try String(contentsOfFile: folder + "/eval/report.html", encoding: .utf8).contains("/run/metrics.csv, the training run"))

        let photo = try Scratch.photo(folder + "/photo.png")
        let predict = try featuremaps(["predict", "--model", model, "--threads", "1", photo])
        #expect(predict.status == 0, "\(predict.err)")
        #expect(predict.out.hasPrefix(photo + ": ") && predict.out.split(separator: ",").count == 3)

        let missing = try featuremaps(["predict", "--model", model, photo, folder + "/none.png"])
        #expect(missing.status == 1)
        #expect(missing.errLines.count == 1 && missing.err.hasPrefix("featuremaps: \(folder)/none.png: "))
        #expect(missing.out.hasPrefix(photo + ": "))  // the readable photo is still classified

        let explore = try featuremaps([photo, "--model", model, "-o", folder + "/maps", "--quiet"])
        #expect(explore.status == 0, "\(explore.err)")
        let files = Scratch.files(under: folder + "/maps")
        #expect(Set(["index.html", "photo/L1.png", "photo/in_img.png", "photo/index.html"]).isSubset(of: files), "\(files)")
        // The gallery shows the model's top 3 as `predict` prints them.
        let page = try String(contentsOfFile: folder + "/maps/index.html", encoding: .utf8)
        let printed = predict.out.split(separator: "\n")[0].dropFirst(photo.count + 2).split(separator: ",").map { $0.split(separator: " ") }
        try #require(printed.count == 3 && printed.allSatisfy { $0.count == 2 })
        #expect(page.contains("Top 3: " + printed.map { "<b>\($0[0])</b> \($0[1])" }.joined(separator: ", ")), "\(page)")

        // The old spelling of --arch still trains, with a one-line note.
        let old = try featuremaps(["train-cifar", "--model", "c4k3p1,relu,mp4,fc10", "--epochs", "1", "--batch-size", "8",
                                   "--threads", "1", "-o", folder + "/old"] + data)
        #expect(old.status == 0, "\(old.err)")
        #expect(old.errLines.count == 1 && old.err.contains("use --arch c4k3p1,relu,mp4,fc10"))
    }

    @Test func cifarPreviewDrawsTheTinySet() throws {
        let cifar = try Scratch.cifar(records: 4)
        let out = try Scratch.folder() + "/preview"
        let run = try featuremaps(["cifar-preview", "--data", cifar, "--records-per-file", "4", "-o", out, "--grid", "2"])
        #expect(run.status == 0, "\(run.err)")
        #expect(run.out.contains("train: images [20, 3, 32, 32]"))
        #expect(Scratch.files(under: out) == ["cifar-preview.png"])
    }

    @Test func benchPrintsOneJSONObjectWithTheKnownKeys() throws {
        let run = try featuremaps(["bench", "--only", "gemm", "--gemm-shapes", "8x8x8,4x8x16:TN", "--json", "--threads", "1"])
        #expect(run.status == 0, "\(run.err)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(run.out.utf8)) as? [String: Any])
        #expect(Set(object.keys) == ["gemm_gflops", "gemm_gflops_bf16", "train_images_per_s", "train_images_per_s_bf16", "infer_images_per_s",
                                     "peak_rss_mb", "cpu"])
        for key in ["gemm_gflops", "gemm_gflops_bf16"] {
            let gemm = try #require(object[key] as? [String: Double])
            #expect(Set(gemm.keys) == ["8x8x8", "4x8x16:TN"] && gemm.values.allSatisfy { $0 > 0 }, "\(key)")
        }
        let cpu = try #require(object["cpu"] as? [String: Any])
        #expect(Set(cpu.keys) == ["model", "path", "bf16_path", "bf16_peak_gflops", "fp32_peak_gflops"])
        let path = try #require(cpu["path"] as? String)
        #expect(["amx", "avx512bf16", "avx512", "avx2", "portable"].contains(path))
        // A number where the CPU has a bf16 unit (the products may still run in software where
        // it is slower than fp32: CPUFeatures.fastBF16DotProducts), null where it has none.
        let software = path == "avx512" || path == "avx2" || path == "portable"
        #expect((cpu["bf16_path"] as? String == "software") == software)
        let avx512 = !(path == "avx2" || path == "portable")
        if !software { #expect((cpu["bf16_peak_gflops"] as? Double ?? 0) > 0) }
        if !avx512 { #expect(cpu["bf16_peak_gflops"] is NSNull) }
        if path == "avx512" { #expect(cpu["bf16_peak_gflops"] is NSNull || (cpu["bf16_peak_gflops"] as? Double ?? 0) > 0) }
        #expect(avx512 ? (cpu["fp32_peak_gflops"] as? Double ?? 0) > 0 : cpu["fp32_peak_gflops"] is NSNull)
    }

    @Test func failuresAreOneLineNamingTheFileOrFlag() throws {
        let evaluate = try featuremaps(["evaluate", "--model", "/no/such/model.safetensors", "--data", "/tmp"])
        #expect(evaluate.status == 1)
        #expect(evaluate.errLines.count == 1 && evaluate.err.hasPrefix("featuremaps: /no/such/model.safetensors: "))

        let noData = try featuremaps(["cifar-preview"], environment: ["PATH": "/usr/bin:/bin"])
        #expect(noData.status == 1)
        #expect(noData.errLines.count == 1 && noData.err.hasPrefix("featuremaps: no CIFAR-10 data given"))

        let wrongData = try featuremaps(["train-cifar", "--data", "/no/such/cifar"])
        #expect(wrongData.status == 1)
        #expect(wrongData.errLines.count == 1 && wrongData.err.contains("/no/such/cifar (from --data) does not exist"))

        let badLR = try featuremaps(["train-cifar", "--lr=-1"])
        #expect(badLR.status == 2)
        #expect(badLR.err.contains("--lr must be a non-negative number"))

        let cifar = try Scratch.cifar(records: 4)
        let resume = try featuremaps(["train-cifar", "--data", cifar, "--records-per-file", "4", "-o", try Scratch.folder(), "--resume"])
        #expect(resume.status == 1)
        #expect(resume.errLines.count == 1 && resume.err.contains("--resume: no checkpoint at "))

        let tooMany = try featuremaps(["evaluate", "--model", "/no/such/model.safetensors", "--data", cifar,
                                       "--records-per-file", "4", "--validation", "50"])
        #expect(tooMany.status == 1 && tooMany.errLines.count == 1)
    }
}
