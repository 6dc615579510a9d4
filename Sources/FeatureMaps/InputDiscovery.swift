#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ImageIO

/// One image to process and the folder (relative to the output root) its figures go to.
public struct ExplorerInput: Sendable, Equatable {
    /// The image file as found (the user's path, or the folder path joined with the sub-path).
    public var path: String
    /// Where its output goes under the output root: the image's stem, preceded by its sub-folders when it
    /// was found inside a folder given on the command line (`photos/trip/cat.jpg` found under
    /// `photos` -> `trip/cat`).
    public var outputFolder: String

    /// An input and its output folder.
    public init(path: String, outputFolder: String) {
        self.path = path
        self.outputFolder = outputFolder
    }
}

/// Something about one file or folder went wrong: `<path>: <reason>`, printed as one line.
/// The explorer's input failures (`ExplorerFailure`) and output failures (`FileWriteError`); the
/// same type as ImageIO's errors, so image and file failures pass through unchanged.
public typealias PathError = ImageIOError

/// A file or folder that could not be written (atomically, through ImageIO).
public typealias FileWriteError = PathError

/// An input that failed (unreadable, not an image, too small, output not writable).
public typealias ExplorerFailure = PathError

/// Expands the command line's files and folders into the list of images to process.
public enum InputDiscovery {
    /// File name extensions searched for inside folders (compared case-insensitively).
    public static let imageExtensions: Set<String> = ["png", "jpg", "jpeg"]

    /// Files are taken as given (whatever their extension, so a misnamed file gets a clear decoding
    /// error rather than silence); folders are searched recursively for PNG and JPEG files in name
    /// order, skipping hidden entries and the folder `excluding` (the output root, so re-running on
    /// `.` does not eat its own output). Two inputs that would share an output folder are told
    /// apart: the later ones get their extension appended (`cat-jpg`), then a number (`cat-jpg-2`).
    public static func collect(_ paths: [String], excluding excluded: String? = nil) -> (inputs: [ExplorerInput], failures: [ExplorerFailure]) {
        var found: [ExplorerInput] = []
        var failures: [ExplorerFailure] = []
        let excludedReal = excluded.flatMap(realPath)
        for path in paths {
            var status = stat()
            guard stat(path, &status) == 0 else {
                failures.append(ExplorerFailure(path: path, reason: String(cString: strerror(errno))))
                continue
            }
            if status.st_mode & S_IFMT == S_IFDIR {
                var visited: Set<String> = []
                walk(folder: path, relative: "", excludedReal: excludedReal, visited: &visited,
                     found: &found, failures: &failures)
            } else {
                found.append(ExplorerInput(path: path, outputFolder: stem(of: fileName(of: path))))
            }
        }
        return (disambiguated(found), failures)
    }

    private static func walk(folder: String, relative: String, excludedReal: String?, visited: inout Set<String>,
                             found: inout [ExplorerInput], failures: inout [ExplorerFailure]) {
        if let real = realPath(folder) {
            if real == excludedReal || !visited.insert(real).inserted { return }
        }
        guard let directory = opendir(folder) else {
            failures.append(ExplorerFailure(path: folder, reason: String(cString: strerror(errno))))
            return
        }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: Int(NAME_MAX) + 1) { String(cString: $0) }
            }
            if !name.hasPrefix(".") { names.append(name) }
        }
        closedir(directory)
        for name in names.sorted() {
            let child = folder.hasSuffix("/") ? folder + name : folder + "/" + name
            let childRelative = relative.isEmpty ? name : relative + "/" + name
            var status = stat()
            guard stat(child, &status) == 0 else { continue }  // a dangling link is not an image
            if status.st_mode & S_IFMT == S_IFDIR {
                walk(folder: child, relative: childRelative, excludedReal: excludedReal, visited: &visited,
                     found: &found, failures: &failures)
            } else if imageExtensions.contains(fileExtension(of: name).lowercased()) {
                let parent = relative.isEmpty ? "" : relative + "/"
                found.append(ExplorerInput(path: child, outputFolder: parent + stem(of: name)))
            }
        }
    }

    private static func disambiguated(_ inputs: [ExplorerInput]) -> [ExplorerInput] {
        var taken: Set<String> = []
        return inputs.map { input in
            var result = input
            if !taken.insert(result.outputFolder).inserted {
                let ext = fileExtension(of: fileName(of: input.path)).lowercased()
                let base = ext.isEmpty ? input.outputFolder : input.outputFolder + "-" + ext
                var candidate = base
                var number = 2
                while !taken.insert(candidate).inserted {
                    candidate = "\(base)-\(number)"
                    number += 1
                }
                result.outputFolder = candidate
            }
            return result
        }
    }

    static func fileName(of path: String) -> String {
        var trimmed = Substring(path)
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed.removeLast() }
        return String(trimmed.split(separator: "/").last ?? trimmed)
    }

    static func fileExtension(of name: String) -> String {
        guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return "" }
        return String(name[name.index(after: dot)...])
    }

    /// The name without its last extension (`cat.jpg` -> `cat`; `.png` stays `.png`).
    static func stem(of name: String) -> String {
        guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return name }
        return String(name[..<dot])
    }

    static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}
