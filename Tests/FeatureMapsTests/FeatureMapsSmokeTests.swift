import Testing
import FeatureMaps
