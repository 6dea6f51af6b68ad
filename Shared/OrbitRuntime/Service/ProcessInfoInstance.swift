import Foundation

/// Identity of this service instance, from the environment (`ORBIT_INSTANCE_ID`, or the host name
/// as containers set it), used for transactional ids under exactly-once.
public enum ProcessInfoInstance {
    public static func transactionalID(service: String) -> String? {
        let environment = ProcessInfo.processInfo.environment
        guard let instance = environment["ORBIT_INSTANCE_ID"] ?? environment["HOSTNAME"] else { return nil }
        return "\(service)-\(instance)"
    }

    /// The transactional id of one pipeline of a stage: `stage` (a suffix such as `-router`, or
    /// empty) and, when the stage runs several stream threads, the thread's number, so no two
    /// producers of one instance share an id.
    public static func transactionalID(service: String, stage: String = "", thread: Int, of threads: Int) -> String? {
        transactionalID(service: service).map { threads == 1 ? "\($0)\(stage)" : "\($0)\(stage)-\(thread)" }
    }
}
