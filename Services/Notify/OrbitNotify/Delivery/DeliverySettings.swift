import Foundation
import OrbitRuntime

/// The `delivery` section of `notify.yaml`: the channel senders' endpoints, retries and breakers.
public struct DeliverySettings: Sendable {
    public enum StartTLS: String, CaseIterable, Sendable {
        /// Plain SMTP (a local sink such as Mailpit).
        case off
        /// STARTTLS when the server offers it.
        case opportunistic
        /// STARTTLS or fail.
        case required
    }

    public struct SMTP: Sendable, Equatable {
        public var host = "127.0.0.1"
        public var port = 1025
        public var startTLS: StartTLS = .off
        /// Verify the server's certificate (turn off only for a test server with a self-signed one).
        public var verifyCertificate = true
        public var username: String?
        public var password: String?
        public var from = "Orbit <noreply@orbit.local>"
        public var helo = "orbit.local"
        public init() {}
    }

    public struct Webhook: Sendable, Equatable {
        public var url: String
        /// The HMAC-SHA256 key; requests carry `X-Orbit-Signature: t=<unix seconds>,v1=<hex>` over `<t>.<body>`.
        public var secret: String
        public init(url: String, secret: String) {
            self.url = url
            self.secret = secret
        }
    }

    /// WeCom (enterprise WeChat) private messages: the bridge's URL, the signing token, the
    /// application's agent id, and the rate WeCom allows.
    public struct WeCom: Sendable, Equatable {
        public var url: String
        public var token: String
        public var agentID: Int
        public var ratePerSecond: Int
        public init(url: String, token: String, agentID: Int, ratePerSecond: Int = 20) {
            (self.url, self.token, self.agentID, self.ratePerSecond) = (url, token, agentID, ratePerSecond)
        }
    }

    public var groupID = "orbit-notify-delivery"
    public var email: SMTP? = SMTP()
    public var sms: Webhook?
    public var push: Webhook?
    public var wecom: WeCom?
    public var maxAttempts = 6
    public var backoffInitialMillis: Int64 = 1000
    public var backoffMaxMillis: Int64 = 300_000
    public var timeoutMillis: Int64 = 10_000
    /// Consecutive failures that open an endpoint's breaker, and how long it stays open.
    public var breakerFailures = 5
    public var breakerOpenMillis: Int64 = 30_000
    /// How often due retries are looked at.
    public var retryInterval: Duration = .seconds(1)
    /// How many messages are in flight per batch (per instance).
    public var concurrency = 32

    public init() {}

    public init(section d: ConfigSection, environment: [String: String] = ProcessInfo.processInfo.environment) throws(ConfigError) {
        try d.rejectUnknownKeys(["group_id", "email", "sms", "push", "wecom", "max_attempts", "backoff_initial_ms", "backoff_max_ms", "timeout_ms",
                                 "breaker_failures", "breaker_open_seconds", "retry_interval_ms", "concurrency"])
        groupID = try d.string("group_id", default: groupID)
        maxAttempts = try d.int("max_attempts", default: maxAttempts, range: 1...100)
        backoffInitialMillis = Int64(try d.int("backoff_initial_ms", default: Int(backoffInitialMillis), range: 10...3_600_000))
        backoffMaxMillis = Int64(try d.int("backoff_max_ms", default: Int(backoffMaxMillis), range: 10...86_400_000))
        timeoutMillis = Int64(try d.int("timeout_ms", default: Int(timeoutMillis), range: 100...300_000))
        breakerFailures = try d.int("breaker_failures", default: breakerFailures, range: 1...1000)
        breakerOpenMillis = Int64(try d.int("breaker_open_seconds", default: 30, range: 1...86_400)) * 1000
        retryInterval = .milliseconds(try d.int("retry_interval_ms", default: 1000, range: 50...600_000))
        concurrency = try d.int("concurrency", default: concurrency, range: 1...1024)

        let e = d.section("email")
        if e.exists {
            try e.rejectUnknownKeys(["host", "port", "starttls", "verify_certificate", "username", "password_env", "password_file", "from", "helo"])
            var smtp = SMTP()
            smtp.host = try e.string("host", default: smtp.host)
            smtp.port = try e.int("port", default: smtp.port, range: 1...65535)
            smtp.startTLS = try e.choice("starttls", default: .off)
            smtp.verifyCertificate = try e.bool("verify_certificate", default: true)
            smtp.username = try e.optionalString("username")
            // The password comes from an environment variable or a file, never from this file.
            let passwordVariable = try e.optionalString("password_env"), passwordFile = try e.optionalString("password_file")
            if passwordVariable != nil, passwordFile != nil { throw e.invalid("password_file", "password_env is set as well: name one source") }
            if let variable = passwordVariable {
                guard let password = environment[variable] else { throw e.invalid("password_env", "the environment variable \(variable) is not set") }
                smtp.password = password
            }
            if let file = passwordFile { smtp.password = try SecretFile.read(file, for: "password_file", in: e) }
            if smtp.username != nil, smtp.password == nil { throw e.invalid("password_env", "AUTH needs a password: name the environment variable (password_env) or file (password_file) that holds it") }
            smtp.from = try e.string("from", default: smtp.from)
            guard smtp.from.contains("@"), !smtp.from.contains("\r"), !smtp.from.contains("\n") else { throw e.invalid("from", "must be an e-mail address on one line") }
            smtp.helo = try e.string("helo", default: smtp.helo)
            email = smtp
        }
        func webhook(_ name: String, extra: Set<String> = []) throws(ConfigError) -> Webhook? {
            let w = d.section(name)
            guard w.exists else { return nil }
            try w.rejectUnknownKeys(Set(["url", "secret_env", "secret_file"]).union(extra))
            let url = try w.string("url")
            guard let parsed = URL(string: url), parsed.scheme == "http" || parsed.scheme == "https", parsed.host != nil else { throw w.invalid("url", "must be an http(s) URL") }
            if let file = try w.optionalString("secret_file") {
                guard try w.optionalString("secret_env") == nil else { throw w.invalid("secret_file", "secret_env is set as well: name one source") }
                let secret = try SecretFile.read(file, for: "secret_file", in: w)
                guard !secret.isEmpty else { throw w.invalid("secret_file", "the file \(file) (the signing key) is empty") }
                return Webhook(url: url, secret: secret)
            }
            let variable = try w.string("secret_env", default: "ORBIT_WEBHOOK_SECRET")
            guard let secret = environment[variable], !secret.isEmpty else { throw w.invalid("secret_env", "the environment variable \(variable) (the signing key) is not set") }
            return Webhook(url: url, secret: secret)
        }
        sms = try webhook("sms")
        push = try webhook("push")
        if let hook = try webhook("wecom", extra: ["agent_id", "rate_per_second"]) {
            let w = d.section("wecom")
            wecom = WeCom(url: hook.url, token: hook.secret, agentID: try w.int("agent_id", range: 1...Int(Int32.max)),
                          ratePerSecond: try w.int("rate_per_second", default: 20, range: 1...10_000))
        }
    }
}
