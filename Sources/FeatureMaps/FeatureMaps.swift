import Kernels
import ImageIO

/// Namespace for the feature-map explorer.
public enum FeatureMapsLibrary {}
