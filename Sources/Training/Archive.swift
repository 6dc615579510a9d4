import CZlib

/// Inflating a gzip file in memory with zlib.
enum Gzip {
    /// The decompressed bytes of the gzip stream `compressed` (all members, as gunzip does).
    /// More than `limit` bytes is an error: a small hostile file must not inflate to all memory.
    static func inflate(_ compressed: [UInt8], named name: String, limit: Int) throws -> [UInt8] {
        guard compressed.count >= 18, compressed[0] == 0x1f, compressed[1] == 0x8b else {
            throw TrainingError.file(path: name, reason: "not a gzip file (expected the official \(CIFAR10.archiveName) or a folder of .bin files)")
        }
        var output = [UInt8]()
        // The official archive inflates to about 185 MB; grow from a guess to avoid many copies.
        output.reserveCapacity(min(compressed.count * 2, 1 << 28))
        var stream = z_stream()
        // 16 + MAX_WBITS: expect a gzip header and trailer rather than a raw zlib stream.
        var status = inflateInit2_(&stream, 16 + MAX_WBITS, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        guard status == Z_OK else { throw TrainingError.file(path: name, reason: "zlib could not start (status \(status))") }
        defer { inflateEnd(&stream) }
        let chunk = 1 << 20
        var buffer = [UInt8](repeating: 0, count: chunk)
        try compressed.withUnsafeBufferPointer { input in
            var consumed = 0
            while consumed < input.count {
                stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress! + consumed)
                stream.avail_in = UInt32(input.count - consumed)
                repeat {
                    let produced: Int = buffer.withUnsafeMutableBufferPointer { out in
                        stream.next_out = out.baseAddress
                        stream.avail_out = UInt32(chunk)
                        status = CZlib.inflate(&stream, Z_NO_FLUSH)
                        return chunk - Int(stream.avail_out)
                    }
                    guard status == Z_OK || status == Z_STREAM_END || status == Z_BUF_ERROR else {
                        let detail = stream.msg.map { String(cString: $0) } ?? "status \(status)"
                        throw TrainingError.file(path: name, reason: "corrupt gzip data (\(detail))")
                    }
                    guard produced <= limit - output.count else {
                        throw TrainingError.file(path: name, reason: "inflates to more than \(limit) bytes, more than the archive it should be can hold")
                    }
                    output.append(contentsOf: buffer[0 ..< produced])
                    if status == Z_BUF_ERROR && produced == 0 { break }
                } while stream.avail_out == 0 && status != Z_STREAM_END
                consumed = input.count - Int(stream.avail_in)
                if status == Z_STREAM_END {
                    // Concatenated gzip members continue; trailing zero padding ends the file.
                    if input[consumed...].allSatisfy({ $0 == 0 }) { return }
                    inflateReset(&stream)
                } else if stream.avail_in == 0 {
                    break
                }
            }
            if status != Z_STREAM_END {
                throw TrainingError.file(path: name, reason: "truncated gzip data (the stream ends before its trailer; \(output.count) bytes inflated)")
            }
        }
        return output
    }
}

/// Reading the members of a tar archive held in memory (ustar and GNU headers).
enum TarArchive {
    /// A regular file in the archive: its path and where its bytes are.
    struct Member {
        var name: String
        var range: Range<Int>
    }

    /// The regular files of the tar image `bytes`.
    static func members(of bytes: [UInt8], named name: String) throws -> [Member] {
        var members = [Member]()
        var offset = 0
        var longName: String?
        while offset + 512 <= bytes.count {
            let header = bytes[offset ..< offset + 512]
            if header.allSatisfy({ $0 == 0 }) { return members }
            guard checksumMatches(header) else {
                throw TrainingError.file(path: name, reason: "not a tar archive (bad header checksum at byte \(offset) of the inflated data); expected the official \(CIFAR10.archiveName)")
            }
            guard let size = octal(header[(offset + 124) ..< (offset + 136)]) else {
                throw TrainingError.file(path: name, reason: "bad tar header at byte \(offset) (unreadable size field)")
            }
            let dataStart = offset + 512
            guard dataStart + size <= bytes.count else {
                throw TrainingError.file(path: name, reason: "truncated tar archive (a member of \(size) bytes at byte \(dataStart) runs past the end, \(bytes.count) bytes)")
            }
            let type = header[offset + 156]
            var path = longName ?? string(header[offset ..< offset + 100])
            longName = nil
            let prefix = string(header[(offset + 345) ..< (offset + 500)])
            if !prefix.isEmpty, header[(offset + 257) ..< (offset + 262)].elementsEqual("ustar".utf8) { path = prefix + "/" + path }
            switch type {
            case UInt8(ascii: "0"), 0:
                members.append(Member(name: path, range: dataStart ..< dataStart + size))
            case UInt8(ascii: "L"):
                longName = string(bytes[dataStart ..< dataStart + size])
            default:
                break // folders, links and extended headers carry no data we need
            }
            offset = dataStart + (size + 511) / 512 * 512
        }
        return members
    }

    private static func checksumMatches(_ header: ArraySlice<UInt8>) -> Bool {
        let start = header.startIndex
        guard let stored = octal(header[(start + 148) ..< (start + 156)]) else { return false }
        var sum = 0
        for (i, byte) in header.enumerated() {
            sum += (148 ..< 156).contains(i) ? 32 : Int(byte)
        }
        return sum == stored
    }

    private static func octal(_ field: ArraySlice<UInt8>) -> Int? {
        var value = 0
        var sawDigit = false
        for byte in field {
            if byte == 0 || byte == 32 {
                if sawDigit { break } else { continue }
            }
            guard byte >= 48 && byte <= 55 else { return nil }
            value = value * 8 + Int(byte - 48)
            sawDigit = true
        }
        return sawDigit ? value : nil
    }

    private static func string(_ field: ArraySlice<UInt8>) -> String {
        let bytes = field.prefix { $0 != 0 }
        return String(decoding: bytes, as: UTF8.self)
    }
}
