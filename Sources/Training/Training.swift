import Kernels
import ImageIO
import CZlib

/// Namespace for the CIFAR-10 training library.
public enum TrainingLibrary {
    /// The zlib version this binary was built against.
    public static var zlibVersionString: String { String(cString: CZlib.zlibVersion()) }
}
