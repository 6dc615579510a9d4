import Kernels
import ImageIO

/// NumPy's .npy format (version 1.0) for float32 tensors, so every map can be checked in NumPy
/// with `numpy.load`.
public enum NpyFile {
    /// The file's bytes: the magic `\x93NUMPY`, version 1.0, a little-endian UInt16 header length,
    /// the header dict `{'descr': '<f4', 'fortran_order': False, 'shape': (...), }` padded with
    /// spaces and a newline to a multiple of 64 bytes, then the elements little-endian, C order.
    public static func encode(_ tensor: Tensor) -> [UInt8] {
        let shapeText: String
        switch tensor.shape.count {
        case 0: shapeText = "()"
        case 1: shapeText = "(\(tensor.shape[0]),)"
        default: shapeText = "(" + tensor.shape.map(String.init).joined(separator: ", ") + ")"
        }
        var header = Array("{'descr': '<f4', 'fortran_order': False, 'shape': \(shapeText), }".utf8)
        let prefixLength = 10  // magic (6) + version (2) + header length (2)
        let padded = (prefixLength + header.count + 1 + 63) / 64 * 64
        header += [UInt8](repeating: 0x20, count: padded - prefixLength - header.count - 1)
        header.append(0x0A)

        var bytes: [UInt8] = [0x93] + Array("NUMPY".utf8) + [1, 0]
        bytes.reserveCapacity(padded + 4 * tensor.count)
        bytes.append(UInt8(header.count & 0xFF))
        bytes.append(UInt8(header.count >> 8))
        bytes += header
        #if _endian(little)
        tensor.storage.withUnsafeBytes { bytes.append(contentsOf: $0) }
        #else
        for value in tensor.storage {
            withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes.append(contentsOf: $0) }
        }
        #endif
        return bytes
    }

    /// Writes `tensor` as an .npy file at `path`, atomically (temporary file, then rename).
    public static func write(_ tensor: Tensor, toPath path: String) throws(FileWriteError) {
        try AtomicFile.write(encode(tensor), toPath: path)
    }
}
