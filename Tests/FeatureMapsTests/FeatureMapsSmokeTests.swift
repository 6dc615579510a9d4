import Testing
@testable import FeatureMaps
