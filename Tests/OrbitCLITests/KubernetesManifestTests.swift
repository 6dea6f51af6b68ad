import Foundation
import OrbitRuntime
import OrbitTestSupport
import XCTest
import Yams

/// `deploy/k8s` cannot be applied here (no cluster), so it is checked against the same facts as
/// the compose file: the topic catalogue, the services' executables, ports and settings, the
/// scorer's group and input, and the configuration files the ConfigMaps are made from.
final class KubernetesManifestTests: XCTestCase {
    let root = ServiceProcess.repositoryRoot
    let services = ["orbit-ingest": "ingest.yaml", "orbit-scorer": "scoring.yaml", "orbit-members": "membership.yaml", "orbit-notify": "notify.yaml"]

    func documents(_ file: String) throws -> [[String: Any]] {
        let text = try String(contentsOf: root.appendingPathComponent("deploy/k8s/\(file)"), encoding: .utf8)
        return try Yams.load_all(yaml: text).compactMap { $0 as? [String: Any] }
    }

    func run(_ executable: String, _ arguments: [String], environment: [String: String] = [:]) throws -> (status: Int32, output: String) {
        let process = try ServiceProcess(executable: executable, arguments: arguments, environment: environment)
        XCTAssertTrue(eventually(timeout: 30) { !process.isRunning })
        return (process.exitStatus ?? -1, process.output.joined(separator: "\n"))
    }

    func testTopicsAreTheCatalogueAsStrimziResources() throws {
        let generated = try run("orbit", ["topics", "manifest"])
        XCTAssertEqual(generated.status, 0)
        let committed = try String(contentsOf: root.appendingPathComponent("deploy/k8s/topics.yaml"), encoding: .utf8)
        XCTAssertEqual(committed.trimmingCharacters(in: .whitespacesAndNewlines), generated.output.trimmingCharacters(in: .whitespacesAndNewlines),
                       "deploy/k8s/topics.yaml is stale: regenerate it with `orbit topics manifest > deploy/k8s/topics.yaml`")
        let topics = try documents("topics.yaml")
        let catalogue = TopicCatalogue.orbitTopics(partitions: 12)
        XCTAssertEqual(topics.count, catalogue.count)
        XCTAssertEqual(Set(topics.compactMap { ($0["metadata"] as? [String: Any])?["name"] as? String }).count, catalogue.count, "resource names are unique")
        for spec in catalogue {
            let resource = topics.first { (($0["spec"] as? [String: Any])?["topicName"] as? String) == spec.name }
            XCTAssertNotNil(resource, "\(spec.name) has a KafkaTopic")
            let body = resource?["spec"] as? [String: Any]
            XCTAssertEqual(body?["partitions"] as? Int, spec.partitions, spec.name)
            XCTAssertEqual((body?["config"] as? [String: Any])?["cleanup.policy"] as? String, spec.configs["cleanup.policy"], spec.name)
        }
    }

    /// The nightly refit runs `orbit model fit --from-state --apply` with options the tool accepts
    /// (its parser refuses an unknown one before connecting) and the scorer's configuration.
    func testTheModelRefitIsANightlyJobOfTheOrbitToolWithOptionsItAccepts() throws {
        let kustomization = try String(contentsOf: root.appendingPathComponent("deploy/k8s/kustomization.yaml"), encoding: .utf8)
        XCTAssertTrue(kustomization.contains("- model-refit.yaml"))
        let job = try XCTUnwrap(documents("model-refit.yaml").first { $0["kind"] as? String == "CronJob" })
        let spec = job["spec"] as! [String: Any]
        XCTAssertEqual(spec["concurrencyPolicy"] as? String, "Forbid")
        let pod = ((((spec["jobTemplate"] as! [String: Any])["spec"] as! [String: Any])["template"] as! [String: Any])["spec"] as! [String: Any])
        let command = try XCTUnwrap(((pod["containers"] as! [[String: Any]])[0])["command"] as? [String])
        XCTAssertEqual(Array(command.prefix(5)), ["orbit", "model", "fit", "--from-state", "--apply"])
        let config = command[command.firstIndex(of: "--scoring-config")! + 1]
        XCTAssertTrue(config.hasPrefix("/opt/orbit/deploy/config/"))
        // Every option the job gives is one `orbit model fit` documents.
        let (status, help) = try run("orbit", ["model", "fit", "--help"])
        XCTAssertEqual(status, 0)
        for option in command where option.hasPrefix("--") { XCTAssertTrue(help.contains(option), "\(option) is not an option of orbit model fit") }
    }

    func testDeploymentsRunEachServiceWithValidSettingsProbesAndItsConfiguration() throws {
        let deployments = try documents("services.yaml").filter { $0["kind"] as? String == "Deployment" }
        let compose = try Yams.load(yaml: String(contentsOf: root.appendingPathComponent("docker-compose.yml"), encoding: .utf8)) as? [String: Any]
        let composeServices = compose?["services"] as? [String: Any] ?? [:]
        XCTAssertEqual(Set(deployments.compactMap { ($0["metadata"] as? [String: Any])?["name"] as? String }), Set(services.keys))
        for deployment in deployments {
            let name = (deployment["metadata"] as! [String: Any])["name"] as! String
            let template = ((deployment["spec"] as! [String: Any])["template"] as! [String: Any])
            let pod = template["spec"] as! [String: Any]
            XCTAssertEqual((pod["securityContext"] as? [String: Any])?["runAsNonRoot"] as? Bool, true, name)
            let container = (pod["containers"] as! [[String: Any]])[0]
            XCTAssertEqual((container["command"] as? [String])?.first, name, "\(name) runs its own executable")
            var environment: [String: String] = [:]
            for variable in container["env"] as? [[String: Any]] ?? [] {
                environment[variable["name"] as! String] = (variable["value"] as? String) ?? "from-a-secret"
            }
            let port = Int(environment["ORBIT__SERVICE__HTTP_PORT"] ?? "")
            XCTAssertNotNil(port, "\(name) sets its HTTP port")
            XCTAssertEqual((container["ports"] as? [[String: Any]])?.first?["containerPort"] as? Int, port, name)
            // Readiness and liveness apart: a pod restoring its state is not sent queries, and is not restarted.
            for (probe, path) in [("readinessProbe", "/health/ready"), ("livenessProbe", "/health/live")] {
                let get = (container[probe] as? [String: Any])?["httpGet"] as? [String: Any]
                XCTAssertEqual(get?["path"] as? String, path, "\(name) \(probe)")
                XCTAssertEqual(get?["port"] as? Int, port, "\(name) \(probe)")
            }
            XCTAssertEqual(((template["metadata"] as? [String: Any])?["annotations"] as? [String: Any])?["prometheus.io/port"] as? String, port.map(String.init))
            let mounts = container["volumeMounts"] as? [[String: Any]] ?? []
            XCTAssertTrue(mounts.contains { $0["mountPath"] as? String == "/opt/orbit/deploy/config" }, "\(name) mounts the configuration where the image reads it")
            // The same port as in docker-compose.yml, so one Prometheus configuration fits both.
            let composeEnvironment = ((composeServices[name] as? [String: Any])?["environment"] as? [String: Any]) ?? [:]
            XCTAssertEqual("\(composeEnvironment["ORBIT__SERVICE__HTTP_PORT"] ?? "")", environment["ORBIT__SERVICE__HTTP_PORT"], name)
            // One pseudonym key for every pod: the Secret, mounted where the setting names the file.
            let keyFile = try XCTUnwrap(environment["ORBIT__PRIVACY__PSEUDONYM_KEY_FILE"], "\(name) reads the shared pseudonym key")
            let keyMount = try XCTUnwrap(mounts.first { $0["mountPath"] as? String == (keyFile as NSString).deletingLastPathComponent }, "\(name) mounts the key's directory")
            let keyVolume = (pod["volumes"] as? [[String: Any]] ?? []).first { $0["name"] as? String == keyMount["name"] as? String }
            XCTAssertEqual((keyVolume?["secret"] as? [String: Any])?["secretName"] as? String, "orbit-pseudonym-key", name)
            XCTAssertEqual((pod["securityContext"] as? [String: Any])?["fsGroup"] as? Int, 10001, "\(name): the non-root user can read the Secret's file")
            // The key is only in the cluster: the check below reads a stand-in.
            let standIn = NSTemporaryDirectory() + "orbit-k8s-check-\(getpid()).key"
            try Data((0..<32).map { _ in UInt8.random(in: 0...255) }).write(to: URL(fileURLWithPath: standIn))
            defer { try? FileManager.default.removeItem(atPath: standIn) }
            environment["ORBIT__PRIVACY__PSEUDONYM_KEY_FILE"] = standIn
            // The services that answer queries: a token from the Secret orbit-query-token, and the
            // pod's own address advertised (Kubernetes expands $(POD_IP) from the downward API).
            if name != "orbit-ingest" {
                let tokenFile = try XCTUnwrap(environment["ORBIT__SERVICE__QUERY_TOKEN_FILE"], "\(name) reads the query token")
                let tokenMount = try XCTUnwrap(mounts.first { $0["mountPath"] as? String == (tokenFile as NSString).deletingLastPathComponent }, "\(name) mounts the token's directory")
                let tokenVolume = (pod["volumes"] as? [[String: Any]] ?? []).first { $0["name"] as? String == tokenMount["name"] as? String }
                XCTAssertEqual((tokenVolume?["secret"] as? [String: Any])?["secretName"] as? String, "orbit-query-token", name)
                let advertised = try XCTUnwrap(environment["ORBIT__SERVICE__ADVERTISED_URL"], "\(name) advertises where it answers")
                XCTAssertEqual(advertised, "http://$(POD_IP):\(port ?? 0)", name)
                XCTAssertTrue((container["env"] as? [[String: Any]] ?? []).contains { $0["name"] as? String == "POD_IP" }, "\(name) has its pod's address")
                let tokenStandIn = standIn + ".token"
                try Data("a-stand-in-token-of-32-bytes-xxx".utf8).write(to: URL(fileURLWithPath: tokenStandIn))
                environment["ORBIT__SERVICE__QUERY_TOKEN_FILE"] = tokenStandIn
                environment["ORBIT__SERVICE__ADVERTISED_URL"] = "http://10.0.0.7:\(port ?? 0)"
            }
            environment.removeValue(forKey: "POD_IP")
            // Every ORBIT__ variable is a setting the service knows: the service itself says so.
            let check = try run(name, ["--config", "deploy/config/\(services[name]!)", "--check-config"], environment: environment)
            try? FileManager.default.removeItem(atPath: standIn + ".token")
            XCTAssertEqual(check.status, 0, "\(name): \(check.output)")
        }
    }

    func testTheScorerScalesOnItsOwnGroupsLagUpToItsPartitions() throws {
        let scaled = try XCTUnwrap(try documents("keda.yaml").first { $0["kind"] as? String == "ScaledObject" })
        let spec = scaled["spec"] as! [String: Any]
        XCTAssertEqual((spec["scaleTargetRef"] as? [String: Any])?["name"] as? String, "orbit-scorer")
        let trigger = (spec["triggers"] as! [[String: Any]])[0]
        XCTAssertEqual(trigger["type"] as? String, "kafka")
        let metadata = trigger["metadata"] as! [String: Any]
        let scoring = try ConfigDocument.load(path: root.appendingPathComponent("deploy/config/scoring.yaml").path, environment: [:])
        XCTAssertEqual(metadata["consumerGroup"] as? String, try scoring.section("scoring").string("group_id", default: ""))
        XCTAssertEqual(metadata["topic"] as? String, try scoring.section("topics").string("input", default: ""))
        let partitions = TopicCatalogue.orbitTopics(partitions: 12).first { $0.name == metadata["topic"] as? String }?.partitions
        XCTAssertLessThanOrEqual(spec["maxReplicaCount"] as? Int ?? .max, partitions ?? 0, "more scorers than partitions would idle")
    }

    func testTheConfigMapsHoldEveryConfigurationFile() throws {
        let kustomization = try XCTUnwrap(try Yams.load(yaml: String(contentsOf: root.appendingPathComponent("deploy/k8s/kustomization.yaml"), encoding: .utf8)) as? [String: Any])
        let files = (kustomization["configMapGenerator"] as! [[String: Any]]).flatMap { $0["files"] as? [String] ?? [] }
        let config = root.appendingPathComponent("deploy/config")
        var expected = try FileManager.default.contentsOfDirectory(atPath: config.path).filter { $0.hasSuffix(".yaml") }.map { "../config/\($0)" }
        expected += try FileManager.default.contentsOfDirectory(atPath: config.appendingPathComponent("notify-templates").path).map { "../config/notify-templates/\($0)" }
        XCTAssertEqual(Set(files), Set(expected))
        for resource in kustomization["resources"] as! [String] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: root.appendingPathComponent("deploy/k8s/\(resource)").path), resource)
        }
    }
}
