import Foundation

/// Identity of this service instance, from the environment (`ORBIT_INSTANCE_ID`, or the host name
/// as containers set it), used for transactional ids under exactly-once.
public enum ProcessInfoInstance {
    public static func transactionalID(service: String) -> String? {
        let environment = ProcessInfo.processInfo.environment
        guard let instance = environment["ORBIT_INSTANCE_ID"] ?? environment["HOSTNAME"] else { return nil }
        return "\(service)-\(instance)"
    }
}
