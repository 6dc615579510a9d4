/// A dense, contiguous Float32 tensor with an explicit shape.
///
/// Storage is row-major over `shape`; image tensors are NCHW ([batch, channels, height, width]),
/// the order PyTorch, NumPy's .npy files and safetensors use, so weights and maps leave the
/// program without transposes. `Tensor` is a value type (copy-on-write through `Array`):
/// kernels write into an `inout` tensor that is uniquely owned, so a step that reuses its
/// tensors at a fixed batch size does not allocate.
public struct Tensor: Sendable, Equatable {
    /// The extent of each dimension, outermost first.
    public private(set) var shape: [Int]
    /// The elements, row-major over `shape`.
    public var storage: [Float]

    /// A tensor of `shape` filled with `value`.
    public init(shape: [Int], repeating value: Float = 0) {
        require(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
        self.shape = shape
        self.storage = [Float](repeating: value, count: shape.reduce(1, *))
    }

    /// A tensor of `shape` holding `storage` (whose count must match the shape).
    public init(shape: [Int], storage: [Float]) {
        require(storage.count == shape.reduce(1, *),
                     "storage of \(storage.count) elements does not fit shape \(shape)")
        self.shape = shape
        self.storage = storage
    }

    /// The number of elements.
    @inlinable public var count: Int { storage.count }

    /// The number of dimensions.
    @inlinable public var rank: Int { shape.count }

    /// Gives the tensor a new shape with the same element count (a view change, no copy).
    public mutating func reshape(to newShape: [Int]) {
        require(newShape.reduce(1, *) == storage.count,
                     "cannot reshape \(shape) (\(storage.count) elements) to \(newShape)")
        if newShape != shape { shape = newShape }
    }

    /// The same elements under a new shape.
    public func reshaped(to newShape: [Int]) -> Tensor {
        var copy = self
        copy.reshape(to: newShape)
        return copy
    }

    /// Makes the tensor `newShape`, reusing its storage when the element count is unchanged.
    /// The contents are unspecified afterwards unless the count was unchanged. Kernels call
    /// this on their outputs, so steady-state steps never allocate.
    public mutating func resize(to newShape: [Int]) {
        let n = newShape.reduce(1, *)
        if n != storage.count {
            storage = [Float](repeating: 0, count: n)
        }
        if newShape != shape { shape = newShape }
    }

    /// Makes the tensor [d0, d1] without building a shape array when it already has that shape,
    /// so layers can size their buffers on every step without allocating.
    public mutating func resize(_ d0: Int, _ d1: Int) {
        if shape.count == 2 && shape[0] == d0 && shape[1] == d1 { return }
        resize(to: [d0, d1])
    }

    /// Makes the tensor [d0, d1, d2, d3] (see `resize(_:_:)`).
    public mutating func resize(_ d0: Int, _ d1: Int, _ d2: Int, _ d3: Int) {
        if shape.count == 4 && shape[0] == d0 && shape[1] == d1 && shape[2] == d2 && shape[3] == d3 { return }
        resize(to: [d0, d1, d2, d3])
    }

    /// Makes the tensor the shape of `other` (see `resize(_:_:)`).
    public mutating func resize(like other: Tensor) {
        if shape == other.shape { return }
        resize(to: other.shape)
    }

    /// A tensor with no elements. Layers assign it to drop a cached activation, so the
    /// activation's owner can write into it next step without a copy-on-write copy.
    public static let empty = Tensor(shape: [0])

    /// Sets every element to `value`.
    public mutating func fill(_ value: Float) {
        storage.withUnsafeMutableBufferPointer { p in
            for i in p.indices { p[i] = value }
        }
    }

    /// Element access by multi-index (slow; for tests and small code, not hot loops). Indices
    /// are checked in every build (`require`).
    public subscript(_ index: Int...) -> Float {
        get { storage[offset(index)] }
        set { storage[offset(index)] = newValue }
    }

    private func offset(_ index: [Int]) -> Int {
        require(index.count == shape.count, "index \(index) does not match shape \(shape)")
        var o = 0
        for (i, d) in zip(index, shape) {
            require(i >= 0 && i < d, "index \(index) out of range for shape \(shape)")
            o = o * d + i
        }
        return o
    }

    /// Reads the elements through a pointer.
    @inlinable
    public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        try storage.withUnsafeBufferPointer(body)
    }

    /// Writes the elements through a pointer.
    @inlinable
    public mutating func withUnsafeMutableBufferPointer<R>(_ body: (UnsafeMutableBufferPointer<Float>) throws -> R) rethrows -> R {
        try storage.withUnsafeMutableBufferPointer { try body($0) }
    }
}

/// Stops with `message` when `condition` is false, in every build configuration.
///
/// Kernels check shapes once per call with this (never per element), so a mis-built model fails
/// with a message naming the op in every configuration, `-Ounchecked` included (a user may build
/// with it; it removes `precondition`), instead of reading out of bounds in the unsafe-pointer
/// inner loops.
@inlinable
package func require(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String,
                    file: StaticString = #fileID, line: UInt = #line) {
    if !condition() { fatalError(message(), file: file, line: line) }
}
