import CLibPNG
import CJPEG

/// Namespace for the image module (PNG and JPEG through libpng and libjpeg-turbo).
public enum ImageIOLibrary {
    /// The libpng version string this binary was built against.
    public static var libpngVersion: String { PNG_LIBPNG_VER_STRING }
}
