import OrbitContract
import OrbitRuntime

/// Makes coupon codes: 80 bits of a keyed hash of the member, the redemption and the unit, under
/// a key derived from the deployment's secret (`privacy.pseudonym_key_file`).
///
/// Keyed, so nobody without the secret can guess a code (80 bits: someone trying a million codes a
/// second against a million live coupons finds one every 38,000 years); derived from the redemption, so
/// a replay of the ledger makes the same codes and the coupon stage recognises them as repeats.
/// Unique because the coupon stage, keyed by code, never issues a code twice.
struct CouponCodes: Sendable {
    private let hasher: Pseudonymizer.KeyedHasher

    init(secret: Pseudonymizer) { hasher = secret.hasher(purpose: "coupon codes v1") }

    func code(user: String, redemption: String, unit: Int64) -> String {
        CouponCode.encode(hasher.hash(Array("\(user)\u{0}\(redemption)\u{0}\(unit)".utf8)))
    }
}
