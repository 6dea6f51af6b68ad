import Crypto
import OrbitContract

/// The service's queries as HTTP routes: a request for a key goes to the stream thread whose store
/// holds the key's partition. Every query needs the bearer token (`service.query_token_file`):
/// the answers are people's profiles and balances.
public struct QueryRoutes: Sendable {
    let queries: [KeyQuery]
    /// The token's SHA-256: compared in constant time, so a guess learns nothing from timing.
    let tokenDigest: [UInt8]?
    let statuses: [PipelineStatus]
    let owners: (@Sendable (_ query: KeyQuery, _ partition: Int32) -> String?)?

    public init(queries: [KeyQuery], token: String?, statuses: [PipelineStatus], owners: (@Sendable (KeyQuery, Int32) -> String?)? = nil) {
        self.queries = queries
        self.tokenDigest = token.map { Array(SHA256.hash(data: Array($0.utf8))) }
        self.statuses = statuses
        self.owners = owners
    }

    /// The answer when `request` is a query's route; nil otherwise.
    public func answer(_ request: HTTPRequest) -> HTTPResponse? {
        guard let first = queries.first(where: { $0.key(in: request.rawPath) != nil }), let key = first.key(in: request.rawPath) else { return nil }
        guard let tokenDigest else {
            return .json(403, ["error": "queries are off: this service has no service.query_token_file"])
        }
        guard let given = request.header("Authorization"), given.hasPrefix("Bearer "),
              Self.equalInConstantTime(Array(SHA256.hash(data: Array(given.dropFirst("Bearer ".count).utf8))), tokenDigest) else {
            return .json(401, ["error": "a query needs the bearer token (Authorization: Bearer ...)"], headers: [("WWW-Authenticate", "Bearer")])
        }
        guard key.utf8.count <= 512 else { return .json(400, ["error": "a key is at most 512 bytes"]) }
        for query in queries where query.prefix == first.prefix && query.suffix == first.suffix {
            switch query.answer(key) {
            case nil: continue
            case .found(let body): return HTTPResponse(status: 200, contentType: "application/json", body: body)
            case .notFound: return .json(404, ["error": "no \(first.noun) for \(key)"])
            case .unreadable(let reason): return .json(500, ["error": "the stored \(first.noun) cannot be read: \(reason)"])
            }
        }
        let partition = first.partition(of: key)
        if statuses.contains(where: { $0.snapshot.restoring || $0.snapshot.state == .starting }) {
            return .json(503, ["error": "restoring state; partition \(partition) may be held here soon"], headers: [("Retry-After", "1")])
        }
        if let owner = owners?(first, partition) {
            return .json(307, ["owner": owner], headers: [("Location", owner + request.rawPath)])
        }
        return .json(503, ["error": "partition \(partition) is not held by this instance and its owner is not known yet"], headers: [("Retry-After", "1")])
    }

    static func equalInConstantTime(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for index in a.indices { difference |= a[index] ^ b[index] }
        return difference == 0
    }
}

extension HTTPResponse {
    /// A small JSON object of strings (errors, redirects).
    static func json(_ status: Int, _ fields: [String: String], headers: [(name: String, value: String)] = []) -> HTTPResponse {
        var w = JSONWriter()
        w.beginObject()
        for (key, value) in fields.sorted(by: { $0.key < $1.key }) { w.key(key); w.string(value) }
        w.endObject()
        return HTTPResponse(status: status, contentType: "application/json", body: w.bytes + [10], headers: headers)
    }
}
