import FeatureMapsCLI

// Everything lives in FeatureMapsCLI, so the tests can parse and run the commands in-process.
FeatureMapsCommand.runCommandLine()
