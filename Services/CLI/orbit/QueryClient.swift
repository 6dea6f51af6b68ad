import AsyncHTTPClient
import Foundation
import NIOCore
import OrbitContract
import OrbitKafka
import OrbitRuntime

/// Asks the services' query API about one key (`GET /v1/users/{id}` on a scorer, `/v1/members/{id}`
/// on orbit-members): any instance will do, the registry (`orbit.instances`) says where they are,
/// and a 307 leads to the instance holding the key. Redirects are followed here, not by the HTTP
/// client, so the bearer token goes only to addresses the registry names.
struct QueryClient {
    let token: String
    let instances: [InstanceRegistry.Instance]

    /// The registry's live instances, read whole from the topic.
    static func instances(kafka: KafkaConfiguration) throws -> [InstanceRegistry.Instance] {
        let reader = try TopicReader(kafka: kafka, topics: [OrbitTopics.instances])
        try reader.readToEnd()
        var latest: [String: InstanceRegistry.Instance?] = [:]
        for record in reader.records[OrbitTopics.instances] ?? [] {
            guard let key = record.key.map({ String(decoding: $0, as: UTF8.self) }) else { continue }
            latest[key] = record.value.flatMap(InstanceRegistry.decode)
        }
        return latest.values.compactMap { $0 }
    }

    enum Answer {
        case found([UInt8])
        case notFound
        /// No instance of the service answered (none registered, none reachable, or an error status).
        case unavailable(String)
    }

    /// Asks an instance of `service` for `path`, following at most three redirects.
    func get(service: String, path: String) async -> Answer {
        let candidates = instances.filter { $0.service == service }.map(\.url)
        guard !candidates.isEmpty else { return .unavailable("no \(service) instance is registered on \(OrbitTopics.instances)") }
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(redirectConfiguration: .disallow))
        defer { _ = client.shutdown() }
        var problems: [String] = []
        for base in candidates {
            var url = base + path
            for _ in 0..<4 {
                var request = HTTPClientRequest(url: url)
                request.headers.add(name: "Authorization", value: "Bearer \(token)")
                do {
                    let response = try await client.execute(request, timeout: .seconds(5))
                    let body = Array(try await response.body.collect(upTo: 16 * 1024 * 1024).readableBytesView)
                    switch response.status.code {
                    case 200: return .found(body)
                    case 404: return .notFound
                    case 307:
                        guard let location = response.headers.first(name: "Location"), candidates.contains(where: { location.hasPrefix($0 + "/") }) else {
                            problems.append("\(url): a redirect to an address the registry does not name")
                            break
                        }
                        url = location
                        continue
                    default:
                        problems.append("\(url): \(response.status.code) \(String(decoding: body, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))")
                    }
                } catch {
                    problems.append("\(url): \(error)")
                }
                break
            }
        }
        return .unavailable(problems.joined(separator: "; "))
    }
}
