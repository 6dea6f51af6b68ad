import ArgumentParser

@main
struct Orbit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "orbit",
        abstract: "Orbit: user operations on Kafka. Runs the local broker, the services and their tools.",
        subcommands: [
            BrokerCommand.self, UpCommand.self, DemoCommand.self, PublishCommand.self, TailCommand.self,
            TopicsCommand.self, UserCommand.self, ModelCommand.self, VerifyCommand.self, BenchCommand.self,
            NotifyCommand.self, RewardsCommand.self, SegmentsCommand.self, JourneysCommand.self, ReportCommand.self, ForgetCommand.self, PrivacyKeyCommand.self,
        ]
    )
}
