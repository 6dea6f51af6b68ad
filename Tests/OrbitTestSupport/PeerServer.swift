import Foundation
import OrbitLocalPeers
import OrbitNotify

/// The local SMTP sink and webhook receiver (``LocalPeer``) for tests, from this repository.
public enum PeerServer {
    public static func smtp(_ arguments: [String] = []) throws -> LocalPeer { try LocalPeer.smtp(root: ServiceProcess.repositoryRoot, arguments) }
    public static func webhook(secret: String, _ arguments: [String] = []) throws -> LocalPeer {
        try LocalPeer.webhook(root: ServiceProcess.repositoryRoot, secret: secret, arguments)
    }
}
