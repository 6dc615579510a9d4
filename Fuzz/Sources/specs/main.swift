import FeatureMaps
import FuzzSupport
import Training

/// One input: a line of text given to `--layers` (explorer) and to `--model` (train-cifar).
/// Besides not crashing: a parsed layer spec prints as text that parses back to the same stack,
/// and a parsed model spec ends in 10 class scores.
fuzzMain { data, size in
    let text = String(decoding: fuzzBytes(data, size), as: UTF8.self)
    if let stack = try? StackSpec(parsing: text) {
        precondition((try? StackSpec(parsing: stack.description)) == stack, "\(stack) does not parse back")
    }
    if let spec = try? ModelSpec.parse(text) {
        precondition((try? spec.outputShape(input: [3, 32, 32])) == [10])
        precondition(spec.parameterCount >= 0)
    }
    return 0
}
