// What the runtime is built on and every service uses with it: configuration documents and their
// errors, compact state coding, the replay guard (OrbitCore, which links no Kafka).
@_exported import OrbitCore
