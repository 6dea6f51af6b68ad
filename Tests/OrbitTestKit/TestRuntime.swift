import OrbitRuntime

extension RuntimeSettings {
    /// Runtime settings as a service reads them from `yaml` (its `processing`, `state`, `kafka`
    /// sections and so on), for a topology under test.
    public static func testing(service: String, _ yaml: String = "") throws -> RuntimeSettings {
        try RuntimeSettings(document: ConfigDocument(yaml: yaml, file: "test.yaml", environment: [:]), defaultServiceName: service, defaultHTTPPort: 0)
    }

    /// The same with `state.store: disk` in `directory`.
    public static func testing(service: String, diskStateIn directory: String) throws -> RuntimeSettings {
        try testing(service: service, "state:\n  store: disk\n  dir: \"\(directory)\"\n")
    }
}
