/// Hears about a batch as it runs; called from worker threads, so implementations lock.
public protocol BatchReporter: AnyObject, Sendable {
    /// The batch is about to process `total` inputs.
    func started(total: Int)
    /// `image` is done; its files are in `outputFolder`.
    func finished(_ image: ExploredImage, outputFolder: String)
    /// An input failed; the batch goes on.
    func failed(_ failure: ExplorerFailure)
    /// `input` failed with `failure`; the batch goes on. `Explorer.run` calls this one, so a
    /// reporter that files results by input (the gallery's pages) can; by default it is `failed(_:)`.
    func failed(_ failure: ExplorerFailure, input: ExplorerInput)
}

extension BatchReporter {
    /// Reporters that do not need the input hear `failed(_:)`.
    public func failed(_ failure: ExplorerFailure, input: ExplorerInput) { failed(failure) }
}

/// The command line's reporting: errors always go to standard error as one line each
/// (`featuremaps: <path>: <reason>`); besides that, `terminal` redraws one progress line
/// (done/total, images/s, ETA) on standard error, `lines` prints each finished image's output
/// folder on standard output (for scripts and logs), and `quiet` prints nothing else.
public final class ConsoleReporter: BatchReporter, @unchecked Sendable {
    /// How much to print besides errors.
    public enum Style: Sendable {
        /// A progress line on standard error, redrawn in place.
        case terminal
        /// One line per finished image on standard output.
        case lines
        /// Errors only.
        case quiet
    }

    private let style: Style
    private let lock = Lock()
    private var total = 0
    private var done = 0
    private var failed = 0
    private var start = monotonicSeconds()
    private var progressShown = false
    private var lastDraw = 0.0

    /// A reporter in `style`.
    public init(style: Style) {
        self.style = style
    }

    /// `.terminal` when standard error is a terminal, else `.lines`; `.quiet` when asked.
    public static func automatic(quiet: Bool) -> ConsoleReporter {
        ConsoleReporter(style: quiet ? .quiet : (standardErrorIsTerminal() ? .terminal : .lines))
    }

    public func started(total: Int) {
        lock.withLock {
            self.total = total
            start = monotonicSeconds()
            drawProgress(force: true)
        }
    }

    public func finished(_ image: ExploredImage, outputFolder: String) {
        lock.withLock {
            done += 1
            if style == .lines { printToStandardOutput("\(image.input.path) -> \(outputFolder)/\n") }
            drawProgress(force: done == total)
        }
    }

    public func failed(_ failure: ExplorerFailure) {
        lock.withLock {
            done += 1
            failed += 1
            reportError(failure)
            drawProgress(force: true)
        }
    }

    /// Reports an input that failed before the batch started (a missing path, an unreadable
    /// folder). Counted in the summary's failures by the caller.
    public func failedBeforeStart(_ failure: ExplorerFailure) {
        lock.withLock { reportError(failure) }
    }

    /// Prints an error that is not about one input (for example an unwritable output folder).
    public func error(_ message: String) {
        lock.withLock {
            clearProgress()
            printToStandardError("featuremaps: \(message)\n")
        }
    }

    /// Ends the progress line and prints `N images in S s (R images/s): D done, F failed;
    /// output in OUT` (and `, page PAGE` when one was written) on standard error, unless quiet.
    public func finish(_ summary: BatchSummary, earlierFailures: Int, outputRoot: String, page: String? = nil) {
        lock.withLock {
            clearProgress()
            guard style != .quiet else { return }
            let failures = summary.failures.count + earlierFailures
            let rate = summary.seconds > 0 ? Double(summary.total) / summary.seconds : 0
            printToStandardError("\(summary.total + earlierFailures) image\(summary.total + earlierFailures == 1 ? "" : "s") in "
                + "\(format(summary.seconds, decimals: 3)) s (\(format(rate, decimals: 1)) images/s): "
                + "\(summary.succeeded) done, \(failures) failed; output in \(outputRoot)"
                + (page.map { ", page \($0)" } ?? "") + "\n")
        }
    }

    private func reportError(_ failure: ExplorerFailure) {
        clearProgress()
        printToStandardError("featuremaps: \(failure)\n")
    }

    private func clearProgress() {
        if progressShown {
            printToStandardError("\r\u{1B}[K")
            progressShown = false
        }
    }

    /// Redraws at most ten times a second unless forced, so fast batches do not flood the tty.
    private func drawProgress(force: Bool) {
        guard style == .terminal else { return }
        let now = monotonicSeconds()
        guard force || now - lastDraw >= 0.1 else { return }
        lastDraw = now
        let elapsed = now - start
        let rate = elapsed > 0 ? Double(done) / elapsed : 0
        var line = "\r\u{1B}[K[\(done)/\(total)] \(format(rate, decimals: 1)) images/s"
        if done > 0 && done < total && rate > 0 {
            line += ", ETA \(duration(Double(total - done) / rate))"
        }
        if failed > 0 { line += ", \(failed) failed" }
        printToStandardError(line)
        progressShown = true
    }

    private func duration(_ seconds: Double) -> String {
        let whole = Int(seconds.rounded(.up))
        return whole < 60 ? "\(whole)s" : "\(whole / 60)m\(whole % 60 < 10 ? "0" : "")\(whole % 60)s"
    }
}

/// `value` with `decimals` digits after the point (no Foundation needed).
func format(_ value: Double, decimals: Int) -> String {
    guard value.isFinite else { return "\(value)" }
    var scale = 1.0
    for _ in 0..<decimals { scale *= 10 }
    let scaled = Int((abs(value) * scale).rounded())
    let whole = scaled / Int(scale)
    let fraction = scaled % Int(scale)
    var text = (value < 0 && scaled != 0 ? "-" : "") + "\(whole)"
    if decimals > 0 {
        let digits = String(fraction)
        text += "." + String(repeating: "0", count: decimals - digits.count) + digits
    }
    return text
}
