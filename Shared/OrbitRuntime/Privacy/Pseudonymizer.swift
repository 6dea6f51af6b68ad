import Crypto
import Foundation

/// Replaces a user id with a keyed hash (HMAC-SHA256, truncated to 128 bits): what receipts and
/// the ledger's erasure entry name instead of the user. Keyed, so nobody without the key can test
/// a guessed id against it (a plain hash of a user id is one dictionary away from the id).
///
/// Every service of one deployment must use the same key (`privacy.pseudonym_key_file`), so that
/// the receipts of one request carry one subject.
public struct Pseudonymizer: Sendable {
    /// Keys shorter than this are refused: the pseudonym is only as strong as its key.
    public static let minimumKeyBytes = 16
    private let key: SymmetricKey

    public init(key: [UInt8]) {
        precondition(key.count >= Self.minimumKeyBytes, "a pseudonym key needs at least \(Self.minimumKeyBytes) bytes")
        self.key = SymmetricKey(data: key)
    }

    /// A keyed hash of `message` for another purpose than pseudonyms (coupon codes, say): HMAC-SHA256
    /// under a key derived from the deployment's secret for `purpose` alone, so one secret serves
    /// several uses without any of them revealing or colliding with another's.
    public func keyedHash(_ message: [UInt8], purpose: String) -> [UInt8] {
        hasher(purpose: purpose).hash(message)
    }

    /// The keyed hash of ``keyedHash(_:purpose:)`` with its key derived once, for many messages.
    public func hasher(purpose: String) -> KeyedHasher {
        KeyedHasher(key: SymmetricKey(data: Array(HMAC<SHA256>.authenticationCode(for: Array("orbit derived key: \(purpose)".utf8), using: key))))
    }

    /// HMAC-SHA256 under a key derived for one purpose (``hasher(purpose:)``).
    public struct KeyedHasher: Sendable {
        /// The HMAC with its key already absorbed: each hash copies it and adds only the message
        /// (setting the key up is two of SHA-256's block compressions, which were a measured
        /// share of the ledger stage's coupon codes). The same bytes as `authenticationCode`.
        private let keyed: HMAC<SHA256>

        init(key: SymmetricKey) { keyed = HMAC<SHA256>(key: key) }

        public func hash(_ message: [UInt8]) -> [UInt8] {
            var mac = keyed
            mac.update(data: message)
            return Array(mac.finalize())
        }
    }

    /// `p1:` and 32 hex digits; the prefix names the scheme, so a later one can coexist.
    public func pseudonym(_ userID: String) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Array(userID.utf8), using: key)
        let hex: [UInt8] = Array("0123456789abcdef".utf8)
        var out = Array("p1:".utf8)
        for byte in mac.prefix(16) {
            out.append(hex[Int(byte >> 4)])
            out.append(hex[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// The `privacy` section every service shares.
public struct PrivacySettings: Sendable {
    /// The pseudonym key's file: its bytes (at least 16) are the key.
    public var pseudonymKeyFile: String
    /// The request topic and the receipt topic.
    public var requestsTopic: String
    public var receiptsTopic: String
    /// The key in use: read from `pseudonymKeyFile` by ``init(document:)``; settings made in code
    /// (tests, tools that never compare pseudonyms across processes) get a random key of their own.
    public var pseudonymizer: Pseudonymizer

    /// Where the key is when none is configured: made once per Orbit home (one host's processes
    /// share it). Production sets `pseudonym_key_file` to one secret shared by every instance.
    public static var defaultKeyFile: String { LocalBrokerAddress.directory + "/pseudonym.key" }

    public init(pseudonymKeyFile: String = PrivacySettings.defaultKeyFile, requestsTopic: String = "orbit.privacy-requests",
                receiptsTopic: String = "orbit.privacy-receipts") {
        self.pseudonymKeyFile = pseudonymKeyFile
        self.requestsTopic = requestsTopic
        self.receiptsTopic = receiptsTopic
        self.pseudonymizer = Pseudonymizer(key: Self.randomKey())
    }

    /// 32 random bytes: a key of its own for settings made in code, and the default key file's content.
    static func randomKey() -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }

    public init(document: ConfigDocument) throws(ConfigError) {
        let section = document.section("privacy")
        try section.rejectUnknownKeys(["pseudonym_key_file", "requests_topic", "receipts_topic"])
        self.init(pseudonymKeyFile: try section.optionalString("pseudonym_key_file") ?? Self.defaultKeyFile,
                  requestsTopic: try section.string("requests_topic", default: "orbit.privacy-requests"),
                  receiptsTopic: try section.string("receipts_topic", default: "orbit.privacy-receipts"))
        pseudonymizer = try loadPseudonymizer(section: section)  // a bad key stops the service at start, not at the first request
    }

    /// Makes a key file of 32 random bytes (mode 0600) at `path` unless one is there: returns
    /// false when it was already there. Never overwrites: a new key would give every user new
    /// pseudonyms. The file is linked into place exclusively, so of processes starting together
    /// one writes and all read its key. Used for the default key file, and by
    /// `orbit privacy-key` for a deployment's shared one (docker-compose's `privacy-key-init`).
    @discardableResult
    public static func createKeyFile(at path: String) throws -> Bool {
        let manager = FileManager.default
        if manager.fileExists(atPath: path) { return false }
        struct CannotCreate: Error, CustomStringConvertible { let description: String }
        let staging = path + ".new-\(getpid())"
        guard manager.createFile(atPath: staging, contents: Data(randomKey()), attributes: [.posixPermissions: 0o600]) else {
            throw CannotCreate(description: "cannot write \(staging)")
        }
        defer { try? manager.removeItem(atPath: staging) }
        if link(staging, path) != 0 {
            if errno == EEXIST { return false }
            throw CannotCreate(description: "cannot create \(path): \(String(cString: strerror(errno)))")
        }
        return true
    }

    /// Reads the key (creating the default file, with a random key, when it does not exist yet).
    public func loadPseudonymizer(section: ConfigSection? = nil) throws(ConfigError) -> Pseudonymizer {
        func invalid(_ message: String) -> ConfigError {
            section?.invalid("pseudonym_key_file", message)
                ?? ConfigError(file: "(privacy settings)", line: nil, field: "privacy.pseudonym_key_file", message: message)
        }
        let manager = FileManager.default
        if pseudonymKeyFile == Self.defaultKeyFile {
            try? manager.createDirectory(atPath: LocalBrokerAddress.directory, withIntermediateDirectories: true)
            guard (try? Self.createKeyFile(at: pseudonymKeyFile)) != nil else {
                throw invalid("is not set, and \(pseudonymKeyFile) could not be created")
            }
        }
        guard let data = manager.contents(atPath: pseudonymKeyFile) else { throw invalid("cannot read the file \(pseudonymKeyFile)") }
        guard data.count >= Pseudonymizer.minimumKeyBytes, data.count <= SecretFile.maxBytes else {
            throw invalid("the file \(pseudonymKeyFile) must hold \(Pseudonymizer.minimumKeyBytes) bytes to 64 KiB")
        }
        return Pseudonymizer(key: Array(data))
    }
}
