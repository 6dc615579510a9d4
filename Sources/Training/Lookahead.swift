import Foundation
import Kernels

/// airbench's lookahead: an exponential moving average of the whole network state (parameters,
/// frozen ones included, and the batch-norm running statistics; not `num_batches_tracked`,
/// which PyTorch keeps as an integer and airbench leaves out), which every `interval` steps
/// absorbs the network and is copied back into it:
///
///     average = decay * average + (1 - decay) * network;   network = average
///
/// with decay 0.95^5 (k/T)^3 at step k of T: almost no averaging early, a strong pull back
/// towards the average late in the run. The last step copies the average into the network
/// once more (decay 1), so the trained model is the average.
public final class Lookahead {
    /// Steps between updates (airbench: 5).
    public static let interval = 5
    /// The decay per update at the end of the run: 0.95 per step over `interval` steps.
    public static let finalDecay = pow(0.95, Double(interval))

    /// The averaged tensors, by the network's parameter and buffer names.
    public private(set) var average: [(name: String, tensor: Tensor)]

    /// Starts the average at the network's current state.
    public init(_ network: any Layer) {
        average = Self.averagedState(of: network)
    }

    /// airbench's decay for the update after step `step` (1-based) of `totalSteps`.
    public static func decay(afterStep step: Int, of totalSteps: Int) -> Float {
        Float(finalDecay * pow(Double(step) / Double(max(totalSteps, 1)), 3))
    }

    /// Whether the lookahead updates after step `step` (1-based): every `interval` steps from
    /// the start (the last step of the run is followed by `finish` in any case).
    public static func updates(afterStep step: Int) -> Bool { step % interval == 0 }

    /// Moves the average towards the network by 1 - `decay` and copies it into the network.
    public func update(_ network: any Layer, decay: Float) {
        let weight = 1 - decay
        let parameters = Dictionary(uniqueKeysWithValues: network.namedParameters.map { ($0.name, $0.parameter) })
        let buffers = Dictionary(uniqueKeysWithValues: network.namedBuffers)
        for index in average.indices {
            let name = average[index].name
            let current = parameters[name]?.value ?? buffers[name]!
            average[index].tensor.withUnsafeMutableBufferPointer { a in
                current.withUnsafeBufferPointer { n in
                    for i in 0 ..< a.count { a[i] += weight * (n[i] - a[i]) }
                }
            }
            if let parameter = parameters[name] {
                parameter.value = average[index].tensor
            } else {
                network.setBuffer(named: name, to: average[index].tensor)
            }
        }
    }

    /// The end of the run: the network takes the average (airbench's update with decay 1).
    public func finish(_ network: any Layer) { update(network, decay: 1) }

    /// Replaces the average by `saved` (a checkpoint's), which must hold every averaged tensor
    /// with its shape; the error says which does not.
    public func restore(_ saved: [String: Tensor]) throws {
        for index in average.indices {
            let (name, tensor) = average[index]
            guard let t = saved[name], t.shape == tensor.shape else {
                throw TrainingError.optimizerState(reason: "lacks lookahead tensor \(name) of shape \(tensor.shape)")
            }
            average[index].tensor = t
        }
    }

    private static func averagedState(of network: any Layer) -> [(name: String, tensor: Tensor)] {
        network.namedParameters.map { ($0.name, $0.parameter.value) }
            + network.namedBuffers.filter { !$0.name.hasSuffix("num_batches_tracked") }
    }
}
