// The service's pure rules, which every user of the service module (its executable, the orbit
// tool, tests) reads with it.
@_exported import OrbitScoringRules
